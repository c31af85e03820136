"""The top table of `slotraft bench cluster --profile` from py-spy's collapsed stacks."""

from __future__ import annotations

from pathlib import Path

from slotraft.benchmarks.profiling import read_folded, top_table


def test_top_table_self_and_total(tmp_path: Path) -> None:
    folded = tmp_path / "router.folded"
    folded.write_text(
        "main (a.py:1);loop (a.py:2);send (b.py:3) 6\n"
        "main (a.py:1);loop (a.py:2) 3\n"
        "main (a.py:1);recurse (c.py:1);recurse (c.py:1) 1\n"
        "garbage line\n"
    )
    stacks = read_folded(folded)
    assert sum(stacks.values()) == 10
    table = top_table(stacks).splitlines()
    assert table[0] == "10 samples"
    rows = {}
    for line in table[2:]:
        fields = line.split(None, 2)
        if len(fields) == 3 and fields[0].replace(".", "").isdigit():
            rows[fields[2]] = fields[:2]
    assert rows["send (b.py:3)"] == ["60.0", "60.0"]
    assert rows["loop (a.py:2)"] == ["30.0", "90.0"]
    # A frame twice in one stack counts once towards its total.
    assert rows["recurse (c.py:1)"] == ["10.0", "10.0"]


def test_no_samples(tmp_path: Path) -> None:
    assert top_table(read_folded(tmp_path / "missing.folded")).startswith("no samples")
