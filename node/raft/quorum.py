"""Majority arithmetic over one set of voters (changes are one replica at a time, so there
is never a joint configuration)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping


class VoteResult(enum.Enum):
    PENDING = 0
    WON = 1
    LOST = 2


def quorum_size(voters: int) -> int:
    return voters // 2 + 1


def quorum_value(values: list[int]) -> int:
    """The largest value that a majority of `values` (one per voter) has reached; sorts in
    place. With no voters, -1."""
    if not values:
        return -1
    values.sort(reverse=True)
    return values[len(values) // 2]


def vote_result(voters: Iterable[int], votes: Mapping[int, bool]) -> VoteResult:
    granted = rejected = 0
    count = 0
    for voter in voters:
        count += 1
        vote = votes.get(voter)
        if vote is True:
            granted += 1
        elif vote is False:
            rejected += 1
    needed = quorum_size(count)
    if granted >= needed:
        return VoteResult.WON
    if count - rejected < needed:
        return VoteResult.LOST
    return VoteResult.PENDING
