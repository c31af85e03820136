"""`slotraft ctl add-node | remove-node | replace-node | rebalance`: membership operations.

Each one starts an operation in the metadata group (node/membership_ops.py: the new
placement is planned and installed there, or refused with the reason), waits while each
group's leader moves its replicas (node/elastic.py), printing progress, then finishes it.
Every step is idempotent: run after a crash of anything (this command included), the same
command finds its operation in flight and drives it on. Exit 0 only when it is done; 1 when
it is refused or does not finish within --wait seconds (it then goes on in the cluster: run
the command again to follow it).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import grpc

from node.membership_ops import describe
from proto import slotraft_pb2 as pb
from slotraft.admin_client import AdminClient
from slotraft.up_join import joined_port, request_join

ACTIONS = ("add-node", "remove-node", "replace-node", "rebalance")
POLL_S = 0.25
UNANSWERED_S = 10.0


def add_subcommands(actions: Any) -> None:
    add = actions.add_parser("add-node", help="add a node started with `slotraft node --join`")
    add.add_argument("--id", type=int, required=True, dest="member", help="the new node's id")
    add.add_argument(
        "--address",
        default=None,
        help="its HOST:PORT; left out for a `slotraft up` cluster (--data-dir): the running "
        "`slotraft up` starts the node, records it in cluster.json, and it is added",
    )
    remove = actions.add_parser(
        "remove-node", help="move a node's replicas and leaderships elsewhere, then remove it"
    )
    remove.add_argument("member", type=int, metavar="ID")
    replace = actions.add_parser(
        "replace-node", help="a new node takes over the replicas of a dead one"
    )
    replace.add_argument("member", type=int, metavar="ID")
    replace.add_argument("--new-id", type=int, required=True)
    replace.add_argument("--address", required=True, help="the new node's HOST:PORT")
    actions.add_parser("rebalance", help="spread replicas and preferred leaders evenly")
    for parser in (add, remove, replace, actions.choices["rebalance"]):
        parser.add_argument(
            "--wait", type=float, default=600.0, help="seconds to wait for the end (600)"
        )


def request_of(args: argparse.Namespace) -> dict[str, Any]:
    """The request as the metadata entry holds it (node/membership_ops.py)."""
    fields: dict[str, Any] = {"kind": args.action}
    if args.action in ("add-node", "remove-node", "replace-node"):
        fields["node"] = args.member
    if args.action == "replace-node":
        fields["new_node"] = args.new_id
    if args.action in ("add-node", "replace-node"):
        fields["address"] = args.address
    return fields


class Cluster:
    """The nodes as the newest map names them, and calls to them."""

    def __init__(self, admin: AdminClient, addresses: list[str], timeout: float) -> None:
        self.admin = admin
        self.addresses = list(addresses)
        self.timeout = timeout
        self.map: pb.SlotMap | None = None
        # Addresses that did not answer, and when: polled again only after UNANSWERED_S,
        # so that a dead node (replace-node's) does not cost a timeout on every poll.
        self.unanswered: dict[str, float] = {}

    def call(self, address: str, method: str, request: Any) -> Any:
        return self.admin.call(address, method, request, self.timeout)

    def refresh(self) -> list[pb.MembershipProgressReply]:
        replies = []
        now = time.monotonic()
        for address in list(self.addresses):
            if now - self.unanswered.get(address, -UNANSWERED_S) < UNANSWERED_S:
                continue
            try:
                replies.append(self.call(address, "MembershipProgress", pb.StatusRequest()))
                slot_map = self.call(address, "GetSlotMap", pb.StatusRequest())
            except grpc.RpcError:
                self.unanswered[address] = time.monotonic()
                continue
            self.unanswered.pop(address, None)
            if self.map is None or slot_map.epoch > self.map.epoch:
                self.map = slot_map
        if self.map is not None:
            known = [n.address for n in self.map.nodes]
            self.addresses = known + [a for a in self.addresses if a not in known]
        return replies

    def change(self, request: pb.MembershipChangeRequest) -> pb.MembershipChangeReply:
        """On the metadata leader (following hints); raises TimeoutError if none answers."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            by_id = {n.id: n.address for n in self.map.nodes} if self.map else {}
            for address in list(self.addresses):
                try:
                    reply = self.call(address, "ChangeMembership", request)
                except grpc.RpcError:
                    continue
                if reply.applied:
                    return reply
                if reply.leader in by_id:
                    try:
                        reply = self.call(by_id[reply.leader], "ChangeMembership", request)
                    except grpc.RpcError:
                        continue
                    if reply.applied:
                        return reply
            time.sleep(POLL_S)
            self.refresh()
        raise TimeoutError("no metadata leader answered for 30 s")


def run_membership(args: argparse.Namespace, admin: AdminClient, addresses: list[str]) -> int:
    if args.action == "add-node" and args.address is None:
        address = start_up_node(args.data_dir, args.member, addresses)
        if not address:
            return 1
        args.address = address
    cluster = Cluster(admin, addresses, args.timeout)
    replies = cluster.refresh()
    if cluster.map is None:
        print("slotraft ctl: no node answered", file=sys.stderr)
        return 1
    wanted = request_of(args)
    what = describe(wanted)
    # The node that leaves (remove-node, replace-node), while the map still names it: it is
    # asked to stop for good once the operation is done (node/retire.py).
    leaving = wanted["node"] if args.action in ("remove-node", "replace-node") else 0
    leaving_address = next((n.address for n in cluster.map.nodes if n.id == leaving), "")
    in_flight = next((r for r in replies if r.in_flight_id), None)
    try:
        if in_flight is not None:
            if in_flight.in_flight != what:
                print(
                    "slotraft ctl: refused: another operation is in flight "
                    f"({in_flight.in_flight}); run its command again to finish it first",
                    file=sys.stderr,
                )
                return 1
            op_id = in_flight.in_flight_id
            print(f"{what}: resuming the operation in flight")
        else:
            op_id = secrets.token_hex(8)
            reply = cluster.change(
                pb.MembershipChangeRequest(
                    id=op_id,
                    kind=wanted["kind"],
                    node=wanted.get("node", 0),
                    new_node=wanted.get("new_node", 0),
                    address=wanted.get("address", ""),
                    epoch=cluster.map.epoch,
                )
            )
            if reply.error:
                print(f"slotraft ctl: {what} refused: {reply.error}", file=sys.stderr)
                return 1
            print(f"{what}: planned (map epoch {reply.epoch})")
        if not wait_settled(cluster, args.wait, what):
            return 1
        reply = cluster.change(pb.MembershipChangeRequest(id=op_id, finish=True))
        if reply.error:
            print(f"slotraft ctl: {what}: {reply.error}", file=sys.stderr)
            return 1
        if not wait_settled(cluster, args.wait, what):
            return 1
    except TimeoutError as error:
        print(f"slotraft ctl: {what}: {error}; run the command again to resume", file=sys.stderr)
        return 1
    print(f"{what}: done")
    if leaving:
        retire(cluster, leaving, leaving_address)
    return 0


def retire(cluster: Cluster, node_id: int, address: str) -> None:
    """Ask a node that left to stop for good; a dead one (replace-node's) is told so."""
    cluster.refresh()
    epoch = cluster.map.epoch if cluster.map is not None else 0
    if cluster.map is not None and any(n.id == node_id for n in cluster.map.nodes):
        return  # the map still names it: it did not leave (not reached: done means gone)
    if not address:
        print(f"node {node_id}: no address known; stop its process yourself")
        return
    try:
        reply = cluster.call(address, "Retire", pb.RetireRequest(node=node_id, epoch=epoch))
    except grpc.RpcError:
        print(f"node {node_id} ({address}) did not answer: stop its process if it still runs")
        return
    if reply.ok:
        print(f"node {node_id} ({address}) stopped for good")
    else:
        print(f"node {node_id} ({address}) did not stop: {reply.error}")


def start_up_node(data_dir: Path, node_id: int, addresses: list[str]) -> str:
    """Have the `slotraft up` running on `data_dir` start node `node_id` (slotraft/up_join.py);
    its HOST:PORT, or "" (said why) if it did not within 30 s."""
    if not (data_dir / "cluster.json").exists():
        print(
            f"slotraft ctl: add-node without --address needs a `slotraft up` cluster in "
            f"{data_dir} (no cluster.json there)",
            file=sys.stderr,
        )
        return ""
    try:
        request_join(data_dir, node_id)
    except ValueError as error:
        print(f"slotraft ctl: {error}", file=sys.stderr)
        return ""
    host = addresses[0].rpartition(":")[0] if addresses else "127.0.0.1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        port = joined_port(data_dir, node_id)
        if port:
            print(f"node {node_id} started by `slotraft up` on {host}:{port}")
            return f"{host}:{port}"
        time.sleep(POLL_S)
    print(
        f"slotraft ctl: `slotraft up` on {data_dir} did not start node {node_id}", file=sys.stderr
    )
    return ""


def wait_settled(cluster: Cluster, wait: float, what: str) -> bool:
    """Until every group's leader reports the map's membership; prints each change."""
    deadline = time.monotonic() + wait
    last = ""
    while True:
        replies = cluster.refresh()
        assert cluster.map is not None
        epoch = cluster.map.epoch
        groups: dict[int, pb.GroupProgress] = {}
        for reply in replies:
            if reply.epoch == epoch:
                for reported in reply.groups:
                    groups[reported.group] = reported
        wanted = [0] + [shard.group for shard in cluster.map.shards]
        lines = []
        for group in wanted:
            progress = groups.get(group)
            name = "metadata" if group == 0 else f"shard {group - 1}"
            if progress is None:
                lines.append(f"  {name}: no leader reported yet")
            elif not progress.settled:
                lines.append(
                    f"  {name}: {progress.step} (voters {_ids(progress.voters)}, learners "
                    f"{_ids(progress.learners)}, target {_ids(progress.target)}; slowest "
                    f"replica at {progress.slowest_match} of {progress.commit})"
                )
        text = "\n".join(lines)
        if not lines:
            return True
        if text != last:
            settled = len(wanted) - len(lines)
            print(f"{what}: {settled}/{len(wanted)} groups in place\n{text}", flush=True)
            last = text
        if time.monotonic() > deadline:
            print(
                f"slotraft ctl: {what}: not done within the wait; it goes on in the cluster, "
                "run the command again to follow it",
                file=sys.stderr,
            )
            return False
        time.sleep(POLL_S)


def _ids(ids: Any) -> str:
    return ",".join(str(i) for i in ids) or "-"


def render_in_flight(replies: list[pb.MembershipProgressReply]) -> str:
    """`slotraft ctl status`'s lines on the operation in flight and the moves under way."""
    lines = []
    in_flight = next((r.in_flight for r in replies if r.in_flight_id), "")
    if in_flight:
        lines.append(f"operation in flight: {in_flight}")
    for reply in replies:
        for group in reply.groups:
            if not group.settled:
                name = "metadata" if group.group == 0 else f"shard {group.group - 1}"
                lines.append(
                    f"  moving {name}: {group.step} (voters {_ids(group.voters)}, learners "
                    f"{_ids(group.learners)}, target {_ids(group.target)})"
                )
    return "\n".join(lines)
