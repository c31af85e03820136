"""Recorded Raft scenario traces: the interpreter of tests/raft/testdata/*.txt.

Each file is a scenario in the datadriven style of etcd-io/raft: a command, a `----` line,
then what the command made happen, recorded; a blank line ends the recording::

    # Comments and blank lines between commands are kept as they are.
    elect 1
    ----
    > 1 ready
      role=pre-candidate leader=0
      send 1->2 RequestVote term=2 last=1@1 pre
    ...

The test (tests/raft/test_scripts.py) runs every command on a `Cluster`
(tests.raft.harness), prints what happened and fails with a diff of the file against what it
printed. To record the traces anew after a deliberate change, rewrite the files and read
the diff before committing it:

    REWRITE=1 .venv/bin/python -m pytest tests/raft/test_scripts.py
    .venv/bin/python -m tests.raft.script --rewrite tests/raft/testdata/pre_vote.txt

(without --rewrite the second prints the diff, or "ok"). A missing `----` block is recorded
by a rewrite; `expect` lines are assertions that hold in both modes, so a rewrite cannot
record a scenario that lost its point.

What a command prints (tests/raft/testdata/README.md explains every field):

    > N ready                      node N handed out a Ready (persisted, sent, applied and
                                   advanced by the harness), one line per kind of work:
      role=R leader=L                its role or the leader it knows changed
      hard state term=T vote=V commit=C
      install snapshot I@T ...       a snapshot it received
      append (truncate from I) ...   entries to persist
      apply ...                      committed entries it applied
      read "ctx" at index I          a read answered; `read dropped "ctx"`: given up
      send A->B Kind term=T ...      each message it sent
    > lost (why): A->B Kind, ...   messages that did not arrive (cut off, down, rejected)
    ~ tick K/T (ticks: N=t ...)    tick K of T made something happen; each ticked node's
                                   tick count after it
    refused: Error: ...            the node refused the request (NotLeader, ...)

Messages are delivered in the order they were sent, after each round of Readies, unless a
`> lost` line names them or a `hold` keeps them in flight. Entries print as `index@term`.
Stamps print as the leader's tick (`stamp=13`), `13.1` for the first ReadIndex round
within that tick. The cluster's randomness (election timeouts) is seeded: a trace is the
same on every run.

Commands (N, L: node ids; L is the leader that gets the request):

    cluster voters=1,2,3 [learners=4] [seed=0] [config_key=value ...]   (RaftConfig fields)
    elect N | elect-quietly N       make N leader (quietly: everything it sends is lost)
    campaign N                      tick only N until it campaigns, then stabilize
    propose N word...               one proposal per word on node N
    propose-refused N               N refuses a proposal (the script fails if it takes it)
    read N context                  ReadIndex on N
    tick N... [times=K] [settle=each|end|never] [reads=N]
                                    tick only these nodes; stabilize after each tick (each),
                                    once after all K (end: a clock step, the node's ticks
                                    jump), or not at all (never: drive with process/deliver)
    run K [reads=N]                 tick everyone and stabilize, K times; with reads=N, after
                                    each tick N (while it leads) starts a read named after
                                    its tick (t23) and the cluster settles again
    stabilize
    process N...                    handle one Ready of each of these nodes
    sync-later N...                 these nodes' fsyncs end only on `sync` (by default a
                                    Ready's write is durable at once): their replication
                                    leaves and their committed entries apply before, as a
                                    node does (node/raft/ready_policy.py), what waits for
                                    the fsync prints "send after fsync"; a crash before
                                    `sync` loses the write
    sync N...                       end the fsync of N's Ready: send what waited, advance
    deliver [from=N] [to=N] [type=Kind]   deliver these queued messages (held ones too)
    drop [from=N] [to=N] [type=Kind]      lose these queued messages
    hold [from=N] [to=N] [type=Kind]      a slow link: such messages stay queued, in order
    release                               end every hold (the next stabilize delivers them)
    isolate N | partition 1,2 3,4 | heal | crash N | restart N | compact N
    add-learner L N | promote L N | remove L N | transfer L N
    status N...                     role, term, vote, leader, commit, applied, log, membership
                                    and data; on a leader its lease and each peer's progress
    expect role N leader|follower|candidate|pre-candidate
    expect term N T | expect term-above N T | expect leader N L
    expect applied N word...        the payloads N applied, in order
    expect same-applied N...        these nodes applied the same sequence
    expect read N context [index]   N answered that read (at that index)
    expect no-read N [context]      N answered no read (not that one)
    expect dropped-read N context   N dropped that read (it lost its leadership)
    expect voters N id...           N's view of the voters

Any command takes `trace=full|changes|none`: `changes` leaves out the messages sent and
lost (long runs of heartbeats), `none` everything but the command's own result.
"""

from __future__ import annotations

import difflib
import os
import shlex
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from node.raft import ConfChange, ConfChangeType, NotLeader, RaftError, Ready, Role
from node.raft.messages import Message
from node.raft.readonly import tick_of
from tests.raft.harness import (
    Cluster,
    describe_conf,
    describe_data,
    describe_entry,
    describe_message,
    describe_ready,
    describe_stamp,
)

SEPARATOR = "----"
LEVELS = ("full", "changes", "none")
# Set (to anything but "" or "0") to record the traces anew instead of checking them.
REWRITE_ENV = "REWRITE"


def rewrite_requested() -> bool:
    return os.environ.get(REWRITE_ENV, "") not in ("", "0")


class ScriptError(AssertionError):
    pass


@dataclass
class Block:
    """One command of a script with the comment lines before it and its recorded output
    (None if it has no `----` yet)."""

    prefix: list[str]
    line_number: int
    command: str
    recorded: list[str] | None


def parse(text: str) -> tuple[list[Block], list[str]]:
    """The blocks of a script, and the comment lines after the last one."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            pending.append(line)
            i += 1
            continue
        number = i + 1
        i += 1
        recorded: list[str] | None = None
        if i < len(lines) and lines[i] == SEPARATOR:
            i += 1
            recorded = []
            while i < len(lines) and lines[i] != "":
                recorded.append(lines[i])
                i += 1
            i += 1  # the blank line that ends the recording
        blocks.append(Block(pending, number, line, recorded))
        pending = []
    return blocks, pending


def render(blocks: list[Block], outputs: list[list[str]], trailer: list[str]) -> str:
    """The script text with `outputs` recorded under the commands (the inverse of `parse`,
    except that one blank line separates a recording from what follows)."""
    lines: list[str] = []
    for block, output in zip(blocks, outputs, strict=True):
        prefix = block.prefix
        while prefix and not prefix[0].strip():
            prefix = prefix[1:]
        lines.extend(prefix)
        lines.append(block.command)
        lines.append(SEPARATOR)
        lines.extend(output)
        lines.append("")
    lines.extend(trailer)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n"


def _ids(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part)


def _value(text: str) -> object:
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        return float(text)


def _options(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional arguments and key=value options."""
    positional = [a for a in args if "=" not in a]
    options = dict(a.split("=", 1) for a in args if "=" in a)
    return positional, options


def _role(role: Role) -> str:
    return role.name.lower().replace("_", "-")


def _log(first: int, last: int) -> str:
    return f"log={first}..{last}" if first <= last else f"log=empty after {last}"


def _short(message: Message) -> str:
    return f"{message.src}->{message.dst} {type(message).__name__}"


def _picker(options: dict[str, str]) -> Callable[[Message], bool]:
    src = int(options.pop("from", "0"))
    dst = int(options.pop("to", "0"))
    kind = options.pop("type", "")
    if options:
        raise ScriptError(f"unknown options {sorted(options)}")

    def pick(m: Message) -> bool:
        return (
            (not src or m.src == src)
            and (not dst or m.dst == dst)
            and (not kind or type(m).__name__ == kind)
        )

    return pick


class ScriptCluster(Cluster):
    """A Cluster whose links can hold messages (a slow link): held messages stay queued,
    in order, through every stabilize, election and tick until released or delivered by
    name (`deliver`)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.holds: list[Callable[[Message], bool]] = []

    def held(self, message: Message) -> bool:
        return any(hold(message) for hold in self.holds)

    def deliver(self, pick: Callable[[Message], bool] | None = None) -> int:
        if not self.holds:
            return super().deliver(pick)
        return super().deliver(lambda m: (pick is None or pick(m)) and not self.held(m))

    def deliver_held(self, pick: Callable[[Message], bool]) -> int:
        return super().deliver(pick)


class Script:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.cluster: ScriptCluster | None = None
        self.out: list[str] = []
        self.level = "full"
        self.lost: list[tuple[Message, str]] = []
        self.commands: dict[str, Callable[[list[str]], None]] = {
            "cluster": self.cmd_cluster,
            "elect": lambda a: self.c.elect(int(a[0])),
            "elect-quietly": lambda a: self.c.elect_without_appends(int(a[0])),
            "campaign": lambda a: self.c.campaign(int(a[0])),
            "propose": self.cmd_propose,
            "propose-refused": self.cmd_propose_refused,
            "read": lambda a: self.c.nodes[int(a[0])].read_index(a[1].encode()),
            "tick": self.cmd_tick,
            "run": self.cmd_run,
            "stabilize": lambda a: self.c.stabilize(),
            "process": self.cmd_process,
            "sync-later": lambda a: self.c.sync_later.update(map(int, a)),
            "sync": self.cmd_sync,
            "deliver": self.cmd_deliver,
            "drop": self.cmd_drop,
            "hold": self.cmd_hold,
            "release": self.cmd_release,
            "isolate": lambda a: self.c.isolate(int(a[0])),
            "partition": lambda a: self.c.partition(*(_ids(side) for side in a)),
            "heal": lambda a: self.c.heal(),
            "crash": lambda a: self.c.crash(int(a[0])),
            "restart": self.cmd_restart,
            "compact": self.cmd_compact,
            "add-learner": self.cmd_add_learner,
            "promote": lambda a: self.conf_change(a, ConfChangeType.PROMOTE_LEARNER),
            "remove": lambda a: self.conf_change(a, ConfChangeType.REMOVE_NODE),
            "transfer": lambda a: self.c.nodes[int(a[0])].transfer_leader(int(a[1])),
            "status": self.cmd_status,
            "expect": self.cmd_expect,
        }

    @property
    def c(self) -> ScriptCluster:
        if self.cluster is None:
            raise ScriptError("the script must start with `cluster`")
        return self.cluster

    # -- running and checking --------------------------------------------------------------

    def run(self, rewrite: bool = False) -> int:
        """Run every command and compare what it printed with what the file recorded (or,
        with `rewrite`, record it in the file). Returns how many commands ran; raises
        ScriptError with a diff if a recording differs, or naming the line of a failing
        command or expectation."""
        text = self.path.read_text()
        blocks, trailer = parse(text)
        outputs: list[list[str]] = []
        for block in blocks:
            try:
                outputs.append(self.execute(block.command))
            except Exception as failure:
                # An expectation, or the harness or core failing (an assertion, a cluster
                # that does not settle): named with its line and what differed before it.
                where = f"{self.path.name}:{block.line_number}: {block.command.strip()}"
                what = str(failure) if isinstance(failure, ScriptError) else repr(failure)
                diff = self.diff(blocks[: len(outputs)], outputs, [])
                before = f"\n\nthe recorded traces differed before it:\n{diff}" if diff else ""
                raise ScriptError(f"{where}: {what}{before}") from failure
        actual = render(blocks, outputs, trailer)
        if rewrite:
            if actual != text:
                self.path.write_text(actual)
            return len(blocks)
        diff = self.diff(blocks, outputs, trailer)
        if diff:
            raise ScriptError(
                f"{self.path.name}: the trace differs from the recorded one "
                f"(- recorded, + actual; {REWRITE_ENV}=1 records it anew):\n{diff}"
            )
        return len(blocks)

    def diff(self, blocks: list[Block], outputs: list[list[str]], trailer: list[str]) -> str:
        """A unified diff of the file as recorded against the file with `outputs`; "" if
        they are the same."""
        if all(b.recorded == out for b, out in zip(blocks, outputs, strict=True)):
            return ""
        for block in blocks:
            if block.recorded is None:
                return f"{self.path.name}:{block.line_number}: no recorded output (no {SEPARATOR})"
        recorded = [b.recorded or [] for b in blocks]
        expected = render(blocks, recorded, trailer).splitlines()
        actual = render(blocks, outputs, trailer).splitlines()
        return "\n".join(
            difflib.unified_diff(
                expected, actual, f"{self.path.name} (recorded)", "actual", n=4, lineterm=""
            )
        )

    def execute(self, line: str) -> list[str]:
        """Run one command; returns what it printed (never empty: `ok` if nothing else)."""
        words = shlex.split(line, comments=True)
        command = self.commands.get(words[0])
        if command is None:
            raise ScriptError(f"unknown command {words[0]!r}")
        args = [w for w in words[1:] if not w.startswith("trace=")]
        levels = [w.split("=", 1)[1] for w in words[1:] if w.startswith("trace=")]
        self.level = levels[-1] if levels else "full"
        if self.level not in LEVELS:
            raise ScriptError(f"trace= takes one of {LEVELS}")
        self.out = []
        self.lost = []
        try:
            command(args)
        except RaftError as refused:
            self.note(f"refused: {type(refused).__name__}: {refused}")
        self.flush_lost()
        output = self.out or ["ok"]
        if any(not line.strip() for line in output):
            raise AssertionError(f"a blank line in the output would end it early: {output}")
        return output

    # -- tracing ---------------------------------------------------------------------------

    def note(self, line: str) -> None:
        self.flush_lost()
        self.out.append(line)

    def on_ready(self, node_id: int, ready: Ready) -> None:
        if self.level == "none":
            return
        lines = describe_ready(ready, lambda m: self.c.waits_for_fsync(node_id, m))
        if self.level == "changes":
            lines = [line for line in lines if not line.startswith("send ")]
        if lines:
            self.note(f"> {node_id} ready")
            self.out.extend("  " + line for line in lines)

    def on_lost(self, message: Message, reason: str) -> None:
        if self.level == "full":
            self.lost.append((message, reason))

    def flush_lost(self) -> None:
        """One line per run of messages lost for the same reason."""
        lost, self.lost = self.lost, []
        while lost:
            reason = lost[0][1]
            same = 0
            while same < len(lost) and lost[same][1] == reason:
                same += 1
            names = ", ".join(_short(m) for m, _ in lost[:same])
            self.out.append(f"> lost ({reason}): {names}")
            lost = lost[same:]

    def ticks(self, nodes: Iterable[int], count: int, settle: str, reader: int = 0) -> None:
        """Tick `nodes` `count` times, settling as `settle` says; a tick after which
        something happened gets a `~ tick` header. With a `reader`, after each tick and
        settling, that node (while it leads) starts a read named after its tick, `t23`,
        and the cluster settles again."""
        nodes = list(nodes)
        if settle == "end":
            self.c.tick(nodes, times=count)
            self.c.stabilize()
            return
        for k in range(1, count + 1):
            mark = len(self.out)
            self.c.tick(nodes)
            if settle == "each":
                self.c.stabilize()
            if reader and self.c.nodes[reader].role is Role.LEADER:
                node = self.c.nodes[reader]
                node.read_index(f"t{node._ticks}".encode())
                self.c.stabilize()
            self.flush_lost()
            if len(self.out) > mark:
                counts = " ".join(
                    f"{n}={self.c.nodes[n]._ticks}" for n in nodes if n not in self.c.down
                )
                self.out.insert(mark, f"~ tick {k}/{count} (ticks: {counts})")

    # -- commands --------------------------------------------------------------------------

    def cmd_cluster(self, args: list[str]) -> None:
        options = dict(arg.split("=", 1) for arg in args)
        voters = _ids(options.pop("voters", "1,2,3"))
        learners = _ids(options.pop("learners", ""))
        seed = int(options.pop("seed", "0"))
        config = {key: _value(value) for key, value in options.items()}
        self.cluster = ScriptCluster(voters=voters, learners=learners, seed=seed, **config)
        self.cluster.on_ready = self.on_ready
        self.cluster.on_lost = self.on_lost
        self.cluster.on_sync = self.on_sync
        cfg = self.cluster.config(voters[0])
        self.note(
            f"election_ticks={cfg.election_ticks} heartbeat_ticks={cfg.heartbeat_ticks}"
            f" lease_ticks={cfg.lease_ticks} pre_vote={str(cfg.pre_vote).lower()}"
            f" check_quorum={str(cfg.check_quorum).lower()}"
        )

    def cmd_propose(self, args: list[str]) -> None:
        node = self.c.nodes[int(args[0])]
        for word in args[1:]:
            index = node.propose(word.encode())
            self.note(f"proposed {describe_entry(node.log.entries[index - node.log.offset - 1])}")

    def cmd_propose_refused(self, args: list[str]) -> None:
        try:
            self.c.nodes[int(args[0])].propose(b"refused")
        except NotLeader as refused:
            self.note(f"refused: {type(refused).__name__}: {refused}")
            return
        raise ScriptError("the proposal was accepted")

    def cmd_tick(self, args: list[str]) -> None:
        positional, options = _options(args)
        times = int(options.pop("times", "1"))
        settle = options.pop("settle", "each")
        reader = int(options.pop("reads", "0"))
        if options or settle not in ("each", "end", "never") or (reader and settle != "each"):
            raise ScriptError(f"unknown options {options} or settle={settle} with reads")
        self.ticks(map(int, positional), times, settle, reader)

    def cmd_run(self, args: list[str]) -> None:
        positional, options = _options(args)
        reader = int(options.pop("reads", "0"))
        if options:
            raise ScriptError(f"unknown options {sorted(options)}")
        self.ticks(self.c.nodes, int(positional[0]), "each", reader)

    def cmd_process(self, args: list[str]) -> None:
        for node_id in map(int, args):
            if not self.c.process(node_id):
                self.note(f"{node_id} has no Ready")

    def cmd_sync(self, args: list[str]) -> None:
        for node_id in map(int, args):
            if not self.c.sync(node_id):
                self.note(f"{node_id} has nothing to sync")

    def on_sync(self, node_id: int, waited: list[Message]) -> None:
        if self.level == "none":
            return
        lines = [f"> {node_id} fsync done"]
        if self.level == "full":
            lines += [f"  send {describe_message(m)}" for m in waited]
        self.out.extend(lines)

    def cmd_deliver(self, args: list[str]) -> None:
        _, options = _options(args)
        pick = _picker(options)
        chosen = [m for m in self.c.queue if pick(m)]
        self.c.deliver_held(pick)
        delivered = [m for m in chosen if not any(m is lost for lost, _ in self.lost)]
        self.note(f"delivered {', '.join(map(_short, delivered)) or 'nothing'}")

    def cmd_drop(self, args: list[str]) -> None:
        _, options = _options(args)
        if not self.c.drop(_picker(options)):
            self.note("dropped nothing")

    def cmd_hold(self, args: list[str]) -> None:
        _, options = _options(args)
        self.c.holds.append(_picker(options))

    def cmd_release(self, args: list[str]) -> None:
        self.c.holds.clear()
        held = len(self.c.queue)
        self.note(f"{held} message{'s' * (held != 1)} in flight")

    def cmd_restart(self, args: list[str]) -> None:
        node = self.c.restart(int(args[0]))
        self.note(
            f"{node.id} restarted: term={node.term} vote={node.vote} commit={node.log.committed}"
            f" {_log(node.log.first_index(), node.log.last_index())}"
        )

    def cmd_compact(self, args: list[str]) -> None:
        node_id = int(args[0])
        self.c.compact(node_id)
        node = self.c.nodes[node_id]
        assert node.snapshot is not None
        meta = node.snapshot.meta
        self.note(
            f"{node_id} snapshot {meta.index}@{meta.term} {describe_conf(meta.conf)},"
            f" {_log(node.log.first_index(), node.log.last_index())}"
        )

    def cmd_add_learner(self, args: list[str]) -> None:
        node = int(args[1])
        if node not in self.c.nodes:
            self.c.add_node(node)
        self.conf_change(args, ConfChangeType.ADD_LEARNER)

    def conf_change(self, args: list[str], kind: ConfChangeType) -> None:
        leader = self.c.nodes[int(args[0])]
        index = leader.propose_conf_change(ConfChange(kind, int(args[1])))
        self.note(f"proposed {describe_entry(leader.log.entries[index - leader.log.offset - 1])}")

    def cmd_status(self, args: list[str]) -> None:
        for node_id in map(int, args):
            self.out.extend(self.status(node_id))

    def status(self, node_id: int) -> list[str]:
        if node_id in self.c.down:
            return [f"{node_id} down"]
        node = self.c.nodes[node_id]
        s = node.status()
        data = ", ".join(describe_data(d) for d in self.c.data(node_id))
        lines = [
            f"{node_id} {_role(s.role)} term={s.term} vote={s.vote} leader={s.leader}"
            f" commit={s.commit} applied={s.applied} {_log(s.first_index, s.last_index)}"
            f" {describe_conf(s.conf)}",
            f"  data=[{data}]",
        ]
        if s.role is Role.LEADER:
            lines.append(f"  {self.lease(node_id)}")
            lines.extend(
                f"  peer {peer}: {p.state} match={p.match} next={p.next}"
                + (" learner" if p.learner else "")
                for peer, p in sorted(s.peers.items())
            )
        return lines

    def lease(self, node_id: int) -> str:
        """Until which of its ticks a leader may answer reads without a heartbeat round (the
        core keeps this private; the lease scripts are about it)."""
        node = self.c.nodes[node_id]
        now = f"tick={node._ticks} stamp={describe_stamp(node.stamp)}"
        if not node._lease_ticks:
            return f"{now} lease=off"
        if node._lease_tainted:
            return f"{now} lease=void (leader transfer)"
        quorum = node._quorum_stamp()
        if quorum < 0:
            return f"{now} lease=none (no quorum acknowledgement yet)"
        until = tick_of(quorum) + node._lease_ticks
        state = "valid" if until > node._ticks else "expired"
        return f"{now} quorum-acked={describe_stamp(quorum)} lease until tick {until} ({state})"

    def cmd_expect(self, args: list[str]) -> None:
        what, node_id, rest = args[0], int(args[1]), args[2:]
        node = self.c.nodes[node_id]
        if what == "role":
            self.same(_role(node.role), rest[0])
        elif what == "term":
            self.same(node.term, int(rest[0]))
        elif what == "term-above":
            if not node.term > int(rest[0]):
                raise ScriptError(f"term {node.term} is not above {rest[0]}")
        elif what == "leader":
            self.same(node.leader, int(rest[0]))
        elif what == "applied":
            self.same([d.decode() for d in self.c.data(node_id)], rest)
        elif what == "same-applied":
            sequences = {n: self.c.data(n) for n in (node_id, *map(int, rest))}
            if len({tuple(s) for s in sequences.values()}) != 1:
                raise ScriptError(f"applied sequences differ: {sequences}")
        elif what == "read":
            answered = {s.context.decode(): s.index for s in self.c.read_states[node_id]}
            if rest[0] not in answered:
                raise ScriptError(f"no read {rest[0]!r} answered (answered: {answered})")
            if len(rest) > 1:
                self.same(answered[rest[0]], int(rest[1]))
        elif what == "no-read":
            contexts = [s.context.decode() for s in self.c.read_states[node_id]]
            if rest[0] in contexts if rest else contexts:
                raise ScriptError(f"reads were answered: {contexts}")
        elif what == "dropped-read":
            dropped = [c.decode() for c in self.c.dropped_reads[node_id]]
            if rest[0] not in dropped:
                raise ScriptError(f"read {rest[0]!r} not dropped (dropped: {dropped})")
        elif what == "voters":
            self.same(list(node.conf.voters), [int(v) for v in rest])
        else:
            raise ScriptError(f"unknown expectation {what!r}")

    @staticmethod
    def same(actual: object, expected: object) -> None:
        if actual != expected:
            raise ScriptError(f"expected {expected!r}, got {actual!r}")


def main(argv: list[str]) -> int:
    """`python -m tests.raft.script [--rewrite] FILE...`: check (print diffs) or record."""
    rewrite = "--rewrite" in argv
    failed = 0
    for name in (a for a in argv if a != "--rewrite"):
        try:
            Script(Path(name)).run(rewrite=rewrite)
            print(f"{name}: {'recorded' if rewrite else 'ok'}")
        except ScriptError as failure:
            failed += 1
            print(failure)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
