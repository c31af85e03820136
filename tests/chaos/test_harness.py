"""The parts of a chaos run that need no cluster: the history recorder, how client errors
become outcomes, the nemesis schedule against a fake target, and the report."""

from __future__ import annotations

import json
import random
import threading

import pytest
import redis

from chaos.checkers import counters
from chaos.checkers.result import Anomaly, CheckResult
from chaos.client import outcome_of_error
from chaos.history import FAIL, INFO, NEMESIS, OK, History, load_events, operations_from
from chaos.keys import parse_slot_ranges, shard_tags
from chaos.nemesis import FAULTS, Nemesis, expand
from chaos.report import write_report
from chaos.targets.base import Link, Target
from chaos.targets.local import UNSAFE_WIPE, LocalTarget
from chaos.workloads import WorkloadSettings, make_workload
from proto.slots import key_slot

# ------------------------------------------------------------------------------ history


def test_history_pairs_invocations_with_completions_and_round_trips(tmp_path):
    ticks = iter(float(t) for t in range(100))
    history = History(clock=lambda: next(ticks))
    first = history.invoke(0, "registers", "write", "k", "v1")
    second = history.invoke(1, "registers", "read", "k", None)
    history.complete(second, OK, "v1")
    history.complete(first, INFO, "TimeoutError: no reply")
    history.invoke(2, "registers", "read", "k", None)  # the run ended before its reply
    path = tmp_path / "history.json"
    history.save(path)
    events = load_events(path)
    assert [e.type for e in events] == ["invoke", "invoke", "ok", "info", "invoke"]
    operations = operations_from(events)
    assert [(op.f, op.type) for op in operations] == [
        ("write", INFO),
        ("read", OK),
        ("read", INFO),
    ]
    assert operations[0].start < operations[1].start < operations[1].end
    assert operations[0].effect_deadline == float("inf")
    assert operations[1].effect_deadline == operations[1].end
    assert history.counts == {OK: 1, FAIL: 0, INFO: 1}


# ------------------------------------------------------------------------------ keys


def test_workload_keys_are_spread_over_every_shard():
    ranges = parse_slot_ranges("0-5460 9000-9100")
    assert ranges == [(0, 5460), (9000, 9100)]
    ranges = [(0, 5460), (5461, 10922), (10923, 16383)]
    workload = make_workload("registers", "chaos:t", WorkloadSettings(keys=4), shard_tags(ranges))
    slots = [key_slot(key.encode()) for key in workload.all_keys()]
    shards = [next(i for i, (a, b) in enumerate(ranges) if a <= slot <= b) for slot in slots]
    assert shards == [0, 1, 2, 0]
    assert len(set(workload.all_keys())) == 4


# ------------------------------------------------------------------------------ outcomes


@pytest.mark.parametrize(
    ("error", "writes", "outcome"),
    [
        (redis.ResponseError("CLUSTERDOWN The cluster is down: shard 1 ..."), True, INFO),
        (redis.ResponseError("CLUSTERDOWN The cluster is down: shard 1 ..."), False, FAIL),
        (redis.ResponseError("TRYAGAIN later"), True, INFO),
        (redis.ResponseError("WRONGTYPE Operation against a key ..."), True, FAIL),
        (redis.ResponseError("ERR syntax error"), True, FAIL),
        (redis.TimeoutError("Timeout reading from socket"), True, INFO),
        (redis.TimeoutError("Timeout reading from socket"), False, INFO),
        (redis.ConnectionError("Connection closed by server."), True, INFO),
        (ConnectionResetError(), True, INFO),
    ],
)
def test_client_errors_become_outcomes(error, writes, outcome):
    assert outcome_of_error(error, writes) == outcome


# ------------------------------------------------------------------------------ nemesis


class FakeTarget(Target):
    """Records what the nemesis does and keeps the state a real target would."""

    name = "fake"
    one_way_links = True
    duplicates = True

    def __init__(self) -> None:
        self.down: set[int] = set()
        self.paused: set[int] = set()
        self.links: set[Link] = set()
        self.calls: list[str] = []
        self.wiped: set[int] = set()
        self.rejoining: set[int] = set()
        self.duplicate_refused = True
        self.lock = threading.Lock()

    def _note(self, call: str) -> None:
        with self.lock:
            self.calls.append(call)

    def start(self) -> None: ...

    def close(self) -> None: ...

    def routers(self) -> list[tuple[str, int]]:
        return []

    def nodes(self) -> list[int]:
        return [1, 2, 3]

    def shards(self) -> list[int]:
        return [0, 1, 2]

    def slot_ranges(self) -> list[tuple[int, int]]:
        return [(0, 5460), (5461, 10922), (10923, 16383)]

    def leader_of(self, shard: int) -> int:
        return shard + 1

    def start_duplicate(self, node: int) -> tuple[bool, str]:
        self._note(f"duplicate {node}")
        if self.duplicate_refused:
            return True, f"node {node}: /data/node-{node} is in use by another process (pid 7)"
        return False, "node 2 serving on 127.0.0.1:7000"

    def kill(self, node: int) -> None:
        self._note(f"kill {node}")
        self.down.add(node)

    def start_node(self, node: int) -> None:
        self._note(f"start {node}")
        self.down.discard(node)

    def stop_node(self, node: int) -> None:
        self._note(f"stop {node}")
        self.down.add(node)

    def pause(self, node: int) -> None:
        self._note(f"pause {node}")
        self.paused.add(node)

    def resume(self, node: int) -> None:
        self._note(f"resume {node}")
        self.paused.discard(node)

    def partition(self, groups: list[set[int]]) -> None:
        self._note(f"partition {groups}")
        group_of = {node: i for i, group in enumerate(groups) for node in group}
        self.links |= {
            (a, b) for a in self.nodes() for b in self.nodes() if group_of[a] != group_of[b]
        }

    def cut(self, links: set[Link]) -> None:
        self._note(f"cut {sorted(links)}")
        self.links |= links

    lost_disks = True

    def lose_disk(self, node: int) -> None:
        self._note(f"lose disk {node}")
        self.down.add(node)
        self.wiped.add(node)

    def rejoining_nodes(self) -> list[int]:
        return sorted(self.rejoining)

    def heal_network(self) -> None:
        self.links.clear()

    def heal_all(self) -> None:
        self._note("heal all")
        self.heal_network()
        self.down.clear()
        self.paused.clear()

    def wait_until_serving(self, timeout: float) -> None: ...


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "move-slots"])
def test_each_fault_is_injected_then_healed(fault):
    target = FakeTarget()
    history = History()
    nemesis = Nemesis(target, history, [fault], random.Random(1))
    nemesis.inject(fault)
    assert nemesis.active is not None and not nemesis.errors
    if fault == "duplicate-node":  # nothing to undo: the duplicate is gone already
        assert target.calls[-1].startswith("duplicate")
    else:
        assert target.down or target.paused or target.links
    if fault == "partition-one-way":
        sources = {a for a, _ in target.links}
        targets = {b for _, b in target.links}
        assert len(sources) == 1 or len(targets) == 1  # one direction of one node's links
        assert not any((b, a) in target.links for a, b in target.links)
    nemesis.heal()
    assert not (target.down or target.paused or target.links), target.calls
    [fault_op] = history.operations()
    assert fault_op.process == NEMESIS and fault_op.f == fault
    assert fault_op.result.endswith("healed")


class FakeMover:
    def __init__(self) -> None:
        self.moved: list[tuple[int, int, int]] = []
        self.in_flight: list[dict] = []

    def slot_map(self):
        from proto import slotraft_pb2 as pb

        return pb.SlotMap(
            epoch=1,
            shards=[
                pb.ShardInfo(id=0, slots=[pb.SlotRange(first=0, last=99)]),
                pb.ShardInfo(id=1, slots=[pb.SlotRange(first=100, last=16383)]),
            ],
        )

    def move(self, first: int, last: int, target: int):
        self.moved.append((first, last, target))
        self.in_flight = []

    def moves(self) -> list[dict]:
        return self.in_flight


def test_a_slot_move_runs_in_the_background_and_is_finished_at_the_end():
    target = FakeTarget()
    mover = FakeMover()
    target.slot_moves = True
    target.slot_mover = lambda: mover  # type: ignore[method-assign,assignment,return-value]
    history = History()
    nemesis = Nemesis(target, history, ["move-slots"], random.Random(1))
    nemesis.inject("move-slots")
    assert nemesis.move is not None
    nemesis.move.join(5)
    nemesis.heal()
    [(first, last, to)] = mover.moved
    assert (first, last, to) in {(0, 49, 1), (100, 8241, 0)}
    # A move left unfinished (a failed ctl) is taken up before the final reads.
    mover.in_flight = [{"first": 5, "last": 6, "target": 1}]
    nemesis._finish_moves()
    assert mover.moved[-1] == (5, 6, 1) and not nemesis.errors
    assert expand(["move-slots"], target) == ["move-slots"]
    assert "move-slots" not in expand(["mixed"], target)
    with pytest.raises(ValueError, match="cannot move slots"):
        expand(["move-slots"], FakeTarget())


def test_a_disk_is_lost_only_while_no_node_is_rejoining():
    target = FakeTarget()
    history = History()
    nemesis = Nemesis(target, history, ["lose-disk"], random.Random(1))
    target.rejoining = {3}
    nemesis.inject("lose-disk")
    assert nemesis.active is None and not target.wiped
    assert "still rejoining" in history.operations()[0].result
    target.rejoining = set()
    nemesis.inject("lose-disk")
    assert len(target.wiped) == 1 and target.down == target.wiped


def test_a_duplicate_node_that_is_not_refused_is_an_anomaly_of_the_run():
    target = FakeTarget()
    history = History()
    nemesis = Nemesis(target, history, ["duplicate-node"], random.Random(1))
    nemesis.inject("duplicate-node")
    nemesis.heal()
    assert nemesis.anomalies == []
    assert "refused" in history.operations()[0].result
    target.duplicate_refused = False
    nemesis.inject("duplicate-node")
    nemesis.heal()
    assert len(nemesis.anomalies) == 1 and "was not refused" in nemesis.anomalies[0]
    assert "NOT REFUSED" in history.operations()[1].result


def test_schedule_stops_in_time_and_leaves_everything_healed():
    target = FakeTarget()
    history = History()
    nemesis = Nemesis(
        target,
        history,
        list(FAULTS),
        random.Random(3),
        fault_seconds=(0.01, 0.03),
        quiet_seconds=(0.0, 0.01),
    )
    nemesis.run(until=0.5, stop=threading.Event())
    assert nemesis.injected >= 3
    assert target.calls[-1] == "heal all"
    assert not (target.down or target.paused or target.links)
    assert all(op.end <= 0.5 + 0.5 for op in history.operations())


def test_mixed_leaves_out_what_the_target_cannot_do():
    target = FakeTarget()
    target.one_way_links = False
    assert "partition-one-way" not in expand(["mixed"], target)
    assert expand(["kill", "pause", "kill"], target) == ["kill", "pause"]
    with pytest.raises(ValueError, match="one-way"):
        expand(["partition-one-way"], target)
    target.lost_disks = False
    assert "lose-disk" not in expand(["mixed"], target)
    with pytest.raises(ValueError, match="delete a node's data"):
        expand(["lose-disk"], target)
    with pytest.raises(ValueError, match="unknown nemesis"):
        expand(["meteor"], target)
    assert expand(["none"], target) == []


# ------------------------------------------------------------------------------ report


def test_report_has_verdicts_counts_anomalies_history_and_picture(tmp_path):
    history = History()
    for amount in (1, 2):
        index = history.invoke(0, counters.WORKLOAD, "add", "c", amount)
        history.complete(index, OK, amount)
    fault = history.invoke(NEMESIS, NEMESIS, "kill", "", "injecting")
    history.complete(fault, INFO, "killed node 2; healed")
    index = history.invoke(1, counters.WORKLOAD, "final", "c", None)
    history.complete(index, OK, 1)
    result = counters.check(history.operations())
    cluster = CheckResult("cluster", anomalies=[Anomaly("process-exit", "", "node 3 exited")])
    summary = write_report(
        tmp_path,
        history.events(),
        [result, cluster],
        settings=None,
        target={},
        notes=[],
        wall_seconds=1,
    )
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["verdict"] == "invalid"
    assert document["counts"] == {"counters": {"ok": 3, "fail": 0, "info": 0}}
    assert [f["f"] for f in document["faults"]] == ["kill"]
    kinds = [a["kind"] for a in document["results"][0]["anomalies"]]
    assert "lost-increments" in kinds
    assert "lost-increments" in summary and "process-exit" in summary
    assert (tmp_path / "summary.txt").read_text() == summary
    assert len(json.loads((tmp_path / "history.json").read_text())) == 8
    assert (tmp_path / "timeline.png").read_bytes().startswith(b"\x89PNG")


# ------------------------------------------------------------------------------ local target


def test_local_target_routes_every_node_link_through_its_own_proxy(tmp_path):
    target = LocalTarget(tmp_path, unsafe=UNSAFE_WIPE)
    target.prepare()
    try:
        assert target.network is not None
        assert set(target.network.proxies) == {
            (a, b) for a in (1, 2, 3) for b in (1, 2, 3) if a != b
        }
        for process in target.cluster.processes:
            if process.role != "node":
                assert "--unsafe" not in process.command
                continue
            at = process.command.index("--unsafe")
            assert process.command[at + 1] == UNSAFE_WIPE
            peers = [
                process.command[i + 1] for i, arg in enumerate(process.command) if arg == "--peer"
            ]
            assert len(peers) == 2
            for peer in peers:
                other, _, address = peer.partition("=")
                listening = target.network.proxies[(process.id, int(other))].server
                assert listening is not None
                assert address.endswith(f":{listening.sockets[0].getsockname()[1]}")
        target.partition([{1}, {2, 3}])
        assert target.network.cut_links() == {(1, 2), (2, 1), (1, 3), (3, 1)}
        target.heal_network()
        target.cut({(2, 3)})
        assert target.network.cut_links() == {(2, 3)}
        ranges = target.slot_ranges()
        assert len(ranges) == 3 and ranges[0][0] == 0 and ranges[-1][1] == 16383
    finally:
        assert target.network is not None
        target.network.close()


def test_a_temporary_data_dir_goes_after_a_valid_run_and_its_logs_stay(tmp_path):
    from chaos.cli import tidy_data_dir

    for keep in (False, True):
        data_dir = tmp_path / f"data-{keep}"
        (data_dir / "logs").mkdir(parents=True)
        (data_dir / "logs" / "node-1.log").write_text("node 1 says\n")
        (data_dir / "node-1").mkdir()
        report_dir = tmp_path / f"report-{keep}"
        report_dir.mkdir()
        tidy_data_dir(data_dir, report_dir, keep=keep)
        assert (report_dir / "logs" / "node-1.log").read_text() == "node 1 says\n"
        assert data_dir.exists() is keep
