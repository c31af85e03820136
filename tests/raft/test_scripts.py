"""Every scenario script in tests/raft/testdata replays to exactly its recorded trace.

`REWRITE=1 .venv/bin/python -m pytest tests/raft/test_scripts.py` records the traces anew
(see tests/raft/script.py); review the diff before committing it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.raft.script import Script, ScriptError, parse, render, rewrite_requested

SCRIPTS = sorted((Path(__file__).parent / "testdata").glob("*.txt"))


def test_there_are_scripts():
    names = {path.stem for path in SCRIPTS}
    assert {
        "check_quorum",
        "learner",
        "learner_promotion_lagging",
        "lease_clock_step",
        "lease_partitioned_leader",
        "partitioned_leader",
        "pre_vote",
        "read_index",
        "transfer_during_snapshot",
        "transfer_vote_overtakes_announcement",
    } <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_script(path):
    blocks, _ = parse(path.read_text())
    if not rewrite_requested():
        unrecorded = [b.line_number for b in blocks if b.recorded is None]
        assert not unrecorded, f"{path.name}: commands without a recorded trace: {unrecorded}"
    try:
        ran = Script(path).run(rewrite=rewrite_requested())
    except ScriptError as failure:
        pytest.fail(str(failure), pytrace=False)  # the diff says it all; no traceback
    assert ran == len(blocks) > 0


def write(tmp_path: Path, text: str) -> Path:
    script = tmp_path / "scenario.txt"
    script.write_text(text)
    return script


SCENARIO = """\
# An election, recorded.
cluster voters=1,2,3
elect 1 trace=changes

propose 1 x
stabilize
expect applied 2 x
"""


def test_rewrite_records_every_command_and_keeps_the_comments(tmp_path):
    script = write(tmp_path, SCENARIO)
    assert Script(script).run(rewrite=True) == 5
    recorded = script.read_text()
    assert recorded.startswith("# An election, recorded.\ncluster voters=1,2,3\n----\n")
    assert 'proposed 3@2 "x"' in recorded
    assert '  apply 3@2 "x"' in recorded
    assert "expect applied 2 x\n----\nok\n" in recorded
    assert Script(script).run() == 5  # what it recorded is what it replays
    Script(script).run(rewrite=True)
    assert script.read_text() == recorded  # and recording again changes nothing


def test_a_changed_trace_fails_with_a_diff(tmp_path):
    script = write(tmp_path, SCENARIO)
    Script(script).run(rewrite=True)
    text = script.read_text()
    script.write_text(text.replace('apply 3@2 "x"', 'apply 3@2 "y"', 1))
    with pytest.raises(ScriptError) as failure:
        Script(script).run()
    message = str(failure.value)
    assert "REWRITE=1" in message
    assert '-  apply 3@2 "y"' in message
    assert '+  apply 3@2 "x"' in message


def test_a_command_without_a_recording_fails_until_rewritten(tmp_path):
    script = write(tmp_path, "cluster voters=1,2,3\n")
    Script(script).run(rewrite=True)
    script.write_text(script.read_text() + "\nelect 1\n")
    with pytest.raises(ScriptError, match=r"scenario\.txt:5: no recorded output"):
        Script(script).run()


def test_a_wrong_expectation_fails_naming_the_line_even_when_rewriting(tmp_path):
    text = "cluster voters=1,2,3\nelect 1\n# comment\nexpect role 1 follower\n"
    script = write(tmp_path, text)
    for rewrite in (False, True):
        with pytest.raises(ScriptError, match=r"scenario\.txt:4: expect role 1 follower"):
            Script(script).run(rewrite=rewrite)
    assert script.read_text() == text  # a failed rewrite writes nothing


def test_the_trace_is_the_same_every_run(tmp_path):
    path = next(p for p in SCRIPTS if p.stem == "lease_partitioned_leader")
    blocks, trailer = parse(path.read_text())
    runs = []
    for _ in range(2):
        copy = tmp_path / path.name
        copy.write_text(render(blocks, [[] for _ in blocks], trailer))
        Script(copy).run(rewrite=True)
        runs.append(copy.read_text())
    assert runs[0] == runs[1] == path.read_text()


def test_unknown_commands_and_options_are_refused(tmp_path):
    script = write(tmp_path, "cluster voters=1,2,3\nfrobnicate 1\n")
    with pytest.raises(ScriptError, match="unknown command 'frobnicate'"):
        Script(script).run(rewrite=True)
    script = write(tmp_path, "cluster voters=1,2,3\nrun 2 trace=loud\n")
    with pytest.raises(ScriptError, match="trace= takes one of"):
        Script(script).run(rewrite=True)
