"""`slotraft import`'s handling of databases without a server: --db-map's parsing, where
each source database goes (plan), and the --resume file's part per database."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from slotraft import import_command
from slotraft.import_common import State, plan


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    import_command.add_arguments(parser)
    return parser.parse_args(["dump.rdb", "--to", "127.0.0.1:1", *argv])


def test_db_map_takes_pairs_comma_separated_and_repeated() -> None:
    args = parse("--db-map", "3:5, 1:0", "--db-map", "15:15")
    assert args.db_map == [[(3, 5), (1, 0)], [(15, 15)]]
    assert import_command.db_map(args.db_map) == {3: 5, 1: 0, 15: 15}


def test_without_db_map_there_is_no_mapping() -> None:
    assert import_command.db_map(parse().db_map) is None


def test_db_map_may_merge_databases_and_repeat_a_pair() -> None:
    assert import_command.db_map([[(1, 0), (2, 0)], [(1, 0)]]) == {1: 0, 2: 0}


def test_db_map_refuses_a_source_mapped_twice() -> None:
    with pytest.raises(SystemExit, match="source database 3 mapped to 5 and 6"):
        import_command.db_map([[(3, 5)], [(3, 6)]])


@pytest.mark.parametrize("value", ["3", "3:", ":3", "a:1", "-1:0", "3:-1", "3:²", "1:2,", "3:0:1"])
def test_db_map_refuses_what_is_not_two_numbers(value: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        parse(f"--db-map={value}")  # "=": argparse takes "-1:0" for an option otherwise
    assert exit.value.code == 2  # argparse's usage error, before anything runs
    assert "SRC:DST expected" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0:16", "3:99", "1:1,2:16"])
def test_db_map_refuses_a_target_database_outside_0_to_15(value: str, capsys) -> None:
    with pytest.raises(SystemExit):
        parse("--db-map", value)
    assert "the target has databases 0-15" in capsys.readouterr().err


def test_db_map_takes_any_source_database() -> None:
    assert import_command.db_map(parse("--db-map", "40:15").db_map) == {40: 15}


def test_plan_without_db_map_keeps_each_number() -> None:
    assert plan({15, 0, 3}, None) == {0: 0, 3: 3, 15: 15}


def test_plan_without_db_map_refuses_a_source_database_past_15() -> None:
    with pytest.raises(SystemExit, match=r"source database 16: .*--db-map 16:N"):
        plan({0, 16}, None)


def test_plan_with_db_map_leaves_the_others_out() -> None:
    assert plan([0, 3, 20], {3: 1, 20: 2}) == {0: None, 3: 1, 20: 2}


def test_the_state_file_keeps_each_database_apart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = State(path, "redis://h:1")
    three, five = state.database(3, 3), state.database(5, 0)
    three.position, three.tally.copied = 1234, 7
    three.tally.skipped["expired"] += 2
    three.tally.copied_sample.append("k\xff")
    five.done = True
    five.tally.fail(b"x", "boom")
    state.save()
    again = State(path, "redis://h:1")
    assert sorted(again.databases) == [3, 5]
    resumed = again.database(3, 3)
    assert (resumed.position, resumed.done, resumed.target) == (1234, False, 3)
    assert resumed.tally.to_json() == three.tally.to_json()
    assert again.database(5, 0).done and again.databases[5].tally.failed == {"boom": 1}
    assert json.loads(path.read_text())["databases"]["5"]["target"] == 0
    assert not path.with_suffix(".json.tmp").exists()


def test_a_resumed_database_must_go_where_it_went(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = State(path, "a.rdb")
    state.database(3, 3).position = 10
    state.save()
    with pytest.raises(SystemExit, match="source database 3 was being imported into database 3"):
        State(path, "a.rdb").database(3, 4)


def test_a_database_left_out_before_may_be_imported_now(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = State(path, "a.rdb")
    left_out = state.database(2, None)
    left_out.done = True
    left_out.tally.skipped["database 2: not in --db-map"] += 9
    state.save()
    now = State(path, "a.rdb").database(2, 2)
    assert (now.target, now.done, now.tally.copied, sum(now.tally.skipped.values())) == (
        2,
        False,
        0,
        0,
    )


def test_the_state_of_another_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    State(path, "a.rdb").save()
    with pytest.raises(SystemExit, match=r"state of an import from a\.rdb"):
        State(path, "b.rdb")


def test_a_state_file_of_the_single_database_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    old = {"source": "a.rdb", "position": 5, "done": False, "tally": {}}
    path.write_text(json.dumps(old))
    with pytest.raises(SystemExit, match="older slotraft import"):
        State(path, "a.rdb")


def test_without_a_file_nothing_is_saved(tmp_path: Path) -> None:
    state = State(None, "a.rdb")
    state.database(0, 0).position = 3
    state.save()
    assert list(tmp_path.iterdir()) == []
