"""Run every scenario script in tests/raft/testdata."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.raft.script import Script, ScriptError

SCRIPTS = sorted((Path(__file__).parent / "testdata").glob("*.txt"))


def test_there_are_scripts():
    assert len(SCRIPTS) >= 5


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_script(path):
    assert Script(path).run() > 0


def test_a_wrong_expectation_fails_naming_the_line(tmp_path):
    script = tmp_path / "wrong.txt"
    script.write_text("cluster voters=1,2,3\nelect 1\n# comment\nexpect role 1 follower\n")
    with pytest.raises(ScriptError, match=r"wrong\.txt:4"):
        Script(script).run()
