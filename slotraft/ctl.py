"""`slotraft ctl`: inspect and operate a running cluster through a node's Admin service.

slotraft ctl status                      # shards, slots, leaders, terms, commit indexes
slotraft ctl --node HOST:PORT health     # exit 0 when the node serves (health checks)
slotraft ctl transfer-leader SHARD NODE  # hand a shard's leadership to a node
slotraft ctl --node HOST:PORT release-votes --accept-data-loss
                                         # a node rejoining after lost data votes again
slotraft ctl move-slots FIRST-LAST --to SHARD
                                         # move a slot range and its keys, online
slotraft ctl add-node --id 4 --address HOST:PORT   # a node started with --join
slotraft ctl remove-node ID | replace-node ID --new-id N --address HOST:PORT | rebalance
                                         # (slotraft/ctl_membership.py)
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
from pathlib import Path

import grpc

from proto import slotraft_pb2 as pb
from proto.credentials import SecretError
from proto.tls import TlsError, add_tls_arguments, cluster_tls, tls_values
from proto.topology import ClusterDescription
from slotraft import ctl_slots
from slotraft.admin_client import AdminClient, tool_credentials
from slotraft.certs import tls_of_dir
from slotraft.ctl_membership import ACTIONS, add_subcommands, render_in_flight, run_membership
from slotraft.local_cluster import TLS_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--node",
        action="append",
        default=[],
        help="a node's HOST:PORT (repeatable); default: the nodes of the cluster in --data-dir",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("slotraft-data"),
        help="the data directory of `slotraft up` (./slotraft-data)",
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per request (3)")
    parser.add_argument(
        "--cluster-secret-file",
        type=Path,
        default=None,
        help="file holding the cluster secret (default: env SLOTRAFT_CLUSTER_SECRET_FILE or "
        "SLOTRAFT_CLUSTER_SECRET, else <data-dir>/cluster.secret)",
    )
    # --tls-cluster yes with the certificate files, for a cluster in mutual TLS; without
    # it, the certificates of <data-dir>/tls if `slotraft up --tls` made them.
    add_tls_arguments(parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="shards, slot ranges, leaders, terms, indexes")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    actions.add_parser("health", help="exit 0 if the node serves, 1 otherwise")
    ping = actions.add_parser("ping", help="PING a router (exit 0 on PONG); for health checks")
    ping.add_argument("--router", default="127.0.0.1:6379", help="HOST:PORT (127.0.0.1:6379)")
    ping.add_argument(
        "--password",
        default=os.environ.get("SLOTRAFT_PASSWORD") or None,
        help="AUTH password (default: env SLOTRAFT_PASSWORD)",
    )
    transfer = actions.add_parser("transfer-leader", help="move a shard's leadership")
    transfer.add_argument("shard", type=int)
    transfer.add_argument("to_node", type=int)
    release = actions.add_parser(
        "release-votes",
        help="let a node that holds its votes after lost data vote again at once (when the "
        "peers that hold the data are gone for good; can lose acknowledged writes)",
    )
    release.add_argument(
        "--accept-data-loss",
        action="store_true",
        help="required: the node may elect a leader without writes it had acknowledged",
    )
    ctl_slots.add_arguments(actions)
    add_subcommands(actions)


def node_addresses(args: argparse.Namespace) -> list[str]:
    if args.node:
        return args.node
    cluster_file = args.data_dir / "cluster.toml"
    if not cluster_file.exists():
        raise SystemExit(f"no --node given and no {cluster_file}: where is the cluster?")
    return [node.raft_address for node in ClusterDescription.from_toml(cluster_file).nodes]


def status_of_all(
    admin: AdminClient, addresses: list[str], timeout: float
) -> list[pb.ClusterStatus]:
    answers = []
    for address in addresses:
        try:
            answers.append(admin.call(address, "Status", pb.StatusRequest(), timeout))
        except grpc.RpcError as error:
            print(f"node at {address}: unreachable ({error.code().name})", file=sys.stderr)
    return answers


def render_status(answers: list[pb.ClusterStatus]) -> str:
    if not answers:
        return "no node answered"
    slot_map = max((answer.slot_map for answer in answers), key=lambda m: m.epoch)
    lines = [f"slot map epoch {slot_map.epoch}; nodes:"]
    seen = {answer.node: answer for answer in answers}
    for member in slot_map.nodes:
        answer = seen.get(member.id)
        state = "unreachable" if answer is None else "up"
        if answer is not None and answer.identity in ("new", "rejoining"):
            state += f" ({answer.identity}: votes held)"
        lines.append(f"  node {member.id}  {member.address:<22} {state}")
    lines.append("shards:")
    local: dict[int, list[tuple[int, pb.ShardInfo]]] = {}
    for answer in answers:
        for shard in answer.local:
            local.setdefault(shard.id, []).append((answer.node, shard))
    for shard in slot_map.shards:
        ranges = ",".join(f"{r.first}-{r.last}" for r in shard.slots)
        views = local.get(shard.id, [])
        leader = max((view.leader for _, view in views if view.leader), default=0)
        term = max((view.term for _, view in views), default=0)
        lines.append(f"  shard {shard.id}  slots {ranges:<12} leader {leader or '-'}  term {term}")
        for node, view in sorted(views, key=lambda item: item[0]):
            role = next((r.role for r in view.replica_status if r.node == node), "?")
            lines.append(
                f"    node {node}: {role:<13} commit {view.commit:<8} applied {view.applied:<8}"
                f" last {view.last_index:<8} keys {view.keys}"
            )
            if view.failure:
                lines.append(
                    f"      FAILED (group {view.group}) at entry {view.failed_index}: "
                    f"{view.failure}; stopped until the node restarts"
                )
        missing = [n for n in shard.replicas if n not in {node for node, _ in views}]
        for node in missing:
            lines.append(f"    node {node}: unreachable")
    return "\n".join(lines)


def ping_router(args: argparse.Namespace) -> int:
    import redis

    host, _, port = args.router.rpartition(":")
    try:
        with redis.Redis(
            host=host or "127.0.0.1",
            port=int(port),
            password=args.password,
            socket_timeout=args.timeout,
        ) as client:
            client.ping()
    except (redis.RedisError, OSError) as error:
        print(f"router {args.router}: {error}")
        return 1
    print(f"router {args.router}: PONG")
    return 0


def tool_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The TLS context for the nodes: the --tls-* flags', else <data-dir>/tls's."""
    values = tls_values(args, {})
    if "tls-cluster" in values:
        tls = cluster_tls(values)
        return tls.client if tls is not None else None
    return tls_of_dir(args.data_dir / TLS_DIR)


def run(args: argparse.Namespace) -> int:
    if args.action == "ping":
        return ping_router(args)
    addresses = node_addresses(args)
    if args.action == "release-votes" and (problem := release_votes_usage(args)):
        print(problem, file=sys.stderr)
        return 2
    try:
        credentials = tool_credentials(args.cluster_secret_file, args.data_dir, tls=tool_tls(args))
    except (SecretError, TlsError) as error:
        print(f"slotraft ctl: {error}", file=sys.stderr)
        return 2
    with AdminClient(credentials) as admin:
        return run_action(args, admin, addresses)


def run_action(args: argparse.Namespace, admin: AdminClient, addresses: list[str]) -> int:
    if args.action == "status":
        answers = status_of_all(admin, addresses, args.timeout)
        # Nodes added since the cluster file was written: the map names them.
        added = {m.address for a in answers for m in a.slot_map.nodes} - set(addresses)
        answers += status_of_all(admin, sorted(added), args.timeout)
        addresses = addresses + sorted(added)
        if args.json:
            from google.protobuf.json_format import MessageToDict

            print(
                json.dumps(
                    [
                        MessageToDict(answer, always_print_fields_with_no_presence=True)
                        for answer in answers
                    ],
                    indent=2,
                )
            )
        else:
            print(render_status(answers))
            if answers:
                print(ctl_slots.moves_in_flight(admin, addresses, args.timeout))
            moves = render_in_flight(membership_progress(admin, addresses, args.timeout))
            if moves:
                print(moves)
        return 0 if answers else 1
    if args.action == "move-slots":
        return ctl_slots.run_move(args, admin, addresses)
    if args.action == "health":
        for address in addresses:
            try:
                reply = admin.call(address, "Health", pb.HealthRequest(), args.timeout)
            except grpc.RpcError as error:
                print(f"{address}: unreachable ({error.code().name})")
                return 1
            print(f"{address}: {'serving' if reply.serving else 'not serving'} ({reply.detail})")
            if not reply.serving:
                return 1
        return 0
    if args.action == "transfer-leader":
        request = pb.TransferLeaderRequest(shard=args.shard, to_node=args.to_node)
        for address in addresses:
            try:
                reply = admin.call(address, "TransferLeader", request, args.timeout)
            except grpc.RpcError:
                continue
            if reply.ok:
                print(f"shard {args.shard}: leadership goes to node {args.to_node}")
                return 0
        print(
            f"shard {args.shard}: no node accepted the transfer (is it the leader?)",
            file=sys.stderr,
        )
        return 1
    if args.action == "release-votes":
        return release_votes(args, admin, addresses)
    if args.action in ACTIONS:
        return run_membership(args, admin, addresses)
    return 2


def membership_progress(
    admin: AdminClient, addresses: list[str], timeout: float
) -> list[pb.MembershipProgressReply]:
    replies = []
    for address in addresses:
        try:
            replies.append(admin.call(address, "MembershipProgress", pb.StatusRequest(), timeout))
        except grpc.RpcError:
            continue
    return replies


def release_votes_usage(args: argparse.Namespace) -> str:
    """What is wrong with a release-votes command line ("" if nothing)."""
    if not args.accept_data_loss:
        return "release-votes can lose acknowledged writes; add --accept-data-loss to confirm"
    if not args.node:
        return "release-votes needs --node HOST:PORT (before the action)"
    return ""


def release_votes(args: argparse.Namespace, admin: AdminClient, addresses: list[str]) -> int:
    failed = 0
    for address in addresses:
        try:
            reply = admin.call(address, "ReleaseVotes", pb.ReleaseVotesRequest(), args.timeout)
        except grpc.RpcError as error:
            print(f"{address}: unreachable ({error.code().name})", file=sys.stderr)
            failed += 1
            continue
        if reply.previous == "verified":
            print(f"{address}: was not holding its votes")
        else:
            print(f"{address}: votes released (was {reply.previous})")
    return 1 if failed else 0
