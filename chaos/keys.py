"""Keys placed on chosen shards: a hash tag whose slot falls in a shard's slot range puts
the key there (the router routes by the tag), so that every workload has keys on every
shard and every fault of a shard hits every workload."""

from __future__ import annotations

from proto.slots import key_slot

_SEARCH_LIMIT = 1_000_000


def shard_tags(slot_ranges: list[tuple[int, int]]) -> list[str]:
    """One hash tag per shard: tags[i] hashes into slot_ranges[i] (inclusive)."""
    tags = []
    for first, last in slot_ranges:
        for number in range(_SEARCH_LIMIT):
            tag = f"s{number}"
            if first <= key_slot(tag.encode()) <= last:
                tags.append(tag)
                break
        else:
            raise ValueError(f"no hash tag found for slots {first}-{last}")
    return tags


def parse_slot_ranges(text: str) -> list[tuple[int, int]]:
    """'0-5460' or '0-10 20-30' (as the routers' INFO shows them) -> [(0, 5460)]."""
    ranges = []
    for part in text.replace(",", " ").split():
        first, _, last = part.partition("-")
        ranges.append((int(first), int(last or first)))
    return ranges
