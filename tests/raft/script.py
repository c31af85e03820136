"""A small interpreter of readable Raft scenario scripts (tests/raft/testdata/*.txt).

One command per line; `#` starts a comment. Commands act on a `Cluster` (tests.raft.harness)
and `expect ...` lines check it; a failing expectation names the file and line.

    cluster voters=1,2,3 [learners=4] [config_key=value ...]
    elect N | elect-quietly N       make N leader (quietly: everything it sends is lost)
    propose N word...               one proposal per word on node N
    propose-refused N               N raises NotLeader
    read N context                  ReadIndex on N
    tick N... [times=K]             tick only these nodes (stabilizing after each tick)
    run K                           tick everyone and stabilize, K times
    stabilize
    isolate N | partition 1,2 3,4 | heal | crash N | restart N | compact N
    add-learner L N | promote L N | remove L N | transfer L N   (L: the leader)
    expect role N leader|follower|candidate|pre-candidate
    expect term N T | expect term-above N T
    expect applied N word...        the payloads N applied, in order
    expect same-applied N...        these nodes applied the same sequence
    expect read N context           N answered that read
    expect no-read N                N answered no read
    expect voters N id...           N's view of the voters
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

from node.raft import ConfChange, ConfChangeType, NotLeader
from tests.raft.harness import Cluster


class ScriptError(AssertionError):
    pass


def _ids(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part)


def _value(text: str) -> object:
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        return float(text)


class Script:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.cluster: Cluster | None = None
        self.commands: dict[str, Callable[[list[str]], None]] = {
            "cluster": self.cmd_cluster,
            "elect": lambda a: self.c.elect(int(a[0])),
            "elect-quietly": lambda a: self.c.elect_without_appends(int(a[0])),
            "propose": self.cmd_propose,
            "propose-refused": self.cmd_propose_refused,
            "read": lambda a: self.c.nodes[int(a[0])].read_index(a[1].encode()),
            "tick": self.cmd_tick,
            "run": lambda a: self.c.run(int(a[0])),
            "stabilize": lambda a: self.c.stabilize(),
            "isolate": lambda a: self.c.isolate(int(a[0])),
            "partition": lambda a: self.c.partition(*(_ids(side) for side in a)),
            "heal": lambda a: self.c.heal(),
            "crash": lambda a: self.c.crash(int(a[0])),
            "restart": lambda a: self.c.restart(int(a[0])),
            "compact": lambda a: self.c.compact(int(a[0])),
            "add-learner": self.cmd_add_learner,
            "promote": lambda a: self.conf_change(a, ConfChangeType.PROMOTE_LEARNER),
            "remove": lambda a: self.conf_change(a, ConfChangeType.REMOVE_NODE),
            "transfer": lambda a: self.c.nodes[int(a[0])].transfer_leader(int(a[1])),
            "expect": self.cmd_expect,
        }

    @property
    def c(self) -> Cluster:
        if self.cluster is None:
            raise ScriptError("the script must start with `cluster`")
        return self.cluster

    def run(self) -> int:
        """Run every line; returns how many expectations held."""
        self.checked = 0
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            words = shlex.split(line, comments=True)
            if not words:
                continue
            command = self.commands.get(words[0])
            if command is None:
                raise ScriptError(f"{self.path.name}:{number}: unknown command {words[0]!r}")
            try:
                command(words[1:])
            except ScriptError as failure:
                raise ScriptError(f"{self.path.name}:{number}: {line.strip()}: {failure}") from None
        return self.checked

    # -- commands --------------------------------------------------------------------------

    def cmd_cluster(self, args: list[str]) -> None:
        options = dict(arg.split("=", 1) for arg in args)
        voters = _ids(options.pop("voters", "1,2,3"))
        learners = _ids(options.pop("learners", ""))
        config = {key: _value(value) for key, value in options.items()}
        self.cluster = Cluster(voters=voters, learners=learners, **config)

    def cmd_propose(self, args: list[str]) -> None:
        node = self.c.nodes[int(args[0])]
        for word in args[1:]:
            node.propose(word.encode())

    def cmd_propose_refused(self, args: list[str]) -> None:
        try:
            self.c.nodes[int(args[0])].propose(b"refused")
        except NotLeader:
            return
        raise ScriptError("the proposal was accepted")

    def cmd_tick(self, args: list[str]) -> None:
        times = 1
        nodes = []
        for arg in args:
            if arg.startswith("times="):
                times = int(arg.split("=", 1)[1])
            else:
                nodes.append(int(arg))
        for _ in range(times):
            self.c.tick(nodes)
            self.c.stabilize()

    def cmd_add_learner(self, args: list[str]) -> None:
        node = int(args[1])
        if node not in self.c.nodes:
            self.c.add_node(node)
        self.conf_change(args, ConfChangeType.ADD_LEARNER)

    def conf_change(self, args: list[str], kind: ConfChangeType) -> None:
        self.c.nodes[int(args[0])].propose_conf_change(ConfChange(kind, int(args[1])))

    def cmd_expect(self, args: list[str]) -> None:
        what, node_id, rest = args[0], int(args[1]), args[2:]
        node = self.c.nodes[node_id]
        self.checked += 1
        if what == "role":
            self.same(node.role.name.lower().replace("_", "-"), rest[0])
        elif what == "term":
            self.same(node.term, int(rest[0]))
        elif what == "term-above":
            if not node.term > int(rest[0]):
                raise ScriptError(f"term {node.term} is not above {rest[0]}")
        elif what == "applied":
            self.same([d.decode() for d in self.c.data(node_id)], rest)
        elif what == "same-applied":
            sequences = {n: self.c.data(n) for n in (node_id, *map(int, rest))}
            if len({tuple(s) for s in sequences.values()}) != 1:
                raise ScriptError(f"applied sequences differ: {sequences}")
        elif what == "read":
            contexts = [s.context.decode() for s in self.c.read_states[node_id]]
            if rest[0] not in contexts:
                raise ScriptError(f"no read {rest[0]!r} answered (answered: {contexts})")
        elif what == "no-read":
            self.same(self.c.read_states[node_id], [])
        elif what == "voters":
            self.same(list(node.conf.voters), [int(v) for v in rest])
        else:
            raise ScriptError(f"unknown expectation {what!r}")

    @staticmethod
    def same(actual: object, expected: object) -> None:
        if actual != expected:
            raise ScriptError(f"expected {expected!r}, got {actual!r}")
