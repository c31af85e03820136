"""CLUSTER and ASKING: the routers presented as a Redis Cluster, so that cluster-aware
clients (redis-py's RedisCluster, go-redis, Jedis, ioredis) can be pointed at them.

Every router serves every slot: it routes each command to the shard that owns its key.
A cluster client, though, maps each slot to one master. So the routers split the slot range
between them: CLUSTER SLOTS, SHARDS and NODES list each router (sorted by address) as the
master of a contiguous part, and a client spreads its connections, and its load, over all
of them. A command sent to the "wrong" router is served all the same: no router ever
answers MOVED or ASK. The routers learn each other's addresses through the nodes
(router/router_registry.py); one that stops leaves the lists within seconds, and clients
that lose their connection to it ask again and get the remaining routers' split.

A router's node id is the SHA-1 of its announced address (40 hex digits, as Redis's): the
same on every router, and the same after a restart at that address. A client connected
over TLS is given the routers' TLS ports (Redis 7.2's shouldReturnTlsInfo); CLUSTER SHARDS
lists both ports.
"""

from __future__ import annotations

import hashlib
import ipaddress

from proto import errors
from proto.resp import OK, Error, Map, Reply, Verbatim
from proto.slots import SLOT_COUNT, key_slot
from router import tls
from router.backend import BackendError
from router.connection import ClientState
from router.connection_commands import _integer
from router.context import RouterContext
from router.local_commands import answers, help_lines
from router.router_registry import split_address

INVALID_SLOT = b"ERR Invalid slot"
INVALID_SLOT_OR_COUNT = b"ERR Invalid slot or number of keys"


class Member:
    """A router as the CLUSTER replies show it: its address, id and part of the slots."""

    __slots__ = ("epoch", "first", "host", "id", "last", "myself", "port", "tls_port")

    def __init__(
        self, address: str, tls_port: int, epoch: int, first: int, last: int, myself: bool
    ) -> None:
        self.host, self.port = split_address(address)
        self.tls_port = tls_port
        self.id = node_id(address)
        self.epoch = epoch
        self.first = first
        self.last = last
        self.myself = myself


def node_id(address: str) -> bytes:
    return hashlib.sha1(address.encode()).hexdigest().encode()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def members(ctx: RouterContext, client: ClientState) -> list[Member]:
    """The routers, each with its part of the slots. This router is listed at the address
    it announces, or else at the one this client reached it at."""
    me = ctx.announce or client.laddr
    tls_ports = ctx.backend.router_tls_ports()
    tls_ports[me] = tls.announced_tls_port(ctx.config)
    addresses = sorted({*ctx.backend.routers(), me}, key=split_address)
    count = len(addresses)
    return [
        Member(
            address,
            tls_ports.get(address, 0),
            position,  # the config epoch: distinct, 0 for a router alone as for Redis's
            position * SLOT_COUNT // count,
            (position + 1) * SLOT_COUNT // count - 1,
            address == me,
        )
        for position, address in enumerate(addresses)
    ]


def _on_tls(ctx: RouterContext, client: ClientState) -> bool:
    """Whether the client reached this router at its TLS port."""
    port = tls.tls_port(ctx.config)
    return port != 0 and client.laddr.rsplit(":", 1)[-1] == str(port)


def _port_for(member: Member, on_tls: bool) -> int:
    return member.tls_port if on_tls and member.tls_port else member.port


@answers("cluster|slots")
def cluster_slots(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    on_tls = _on_tls(ctx, client)
    return [
        [
            member.first,
            member.last,
            [member.host.encode(), _port_for(member, on_tls), member.id, Map([])],
        ]
        for member in members(ctx, client)
    ]


@answers("cluster|shards")
def cluster_shards(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    shards: list[Reply] = []
    for member in members(ctx, client):
        host = member.host.encode()
        node = [b"id", member.id, b"port", member.port]
        if member.tls_port:
            node += [b"tls-port", member.tls_port]
        node += [b"ip", host, b"endpoint", host]
        if not _is_ip(member.host):
            node += [b"hostname", host]
        # A router holds no replication stream of its own: its offset is 0.
        node += [b"role", b"master", b"replication-offset", 0, b"health", b"online"]
        shards.append(Map([b"slots", [member.first, member.last], b"nodes", [Map(node)]]))
    return shards


@answers("cluster|nodes")
def cluster_nodes(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    lines = []
    on_tls = _on_tls(ctx, client)
    for member in members(ctx, client):
        flags = "myself,master" if member.myself else "master"
        port = _port_for(member, on_tls)
        # No cluster bus: its port is 0; no pings either.
        lines.append(
            f"{member.id.decode()} {member.host}:{port}@0 {flags} - 0 0 {member.epoch} "
            f"connected {member.first}-{member.last}\n"
        )
    return Verbatim("".join(lines).encode())


@answers("cluster|info")
def cluster_info(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    """The state is ok: every router serves every slot. A shard without a leader shows in
    its own commands' -CLUSTERDOWN replies, not here."""
    known = members(ctx, client)
    mine = next(member.epoch for member in known if member.myself)
    lines = [
        "cluster_state:ok",
        f"cluster_slots_assigned:{SLOT_COUNT}",
        f"cluster_slots_ok:{SLOT_COUNT}",
        "cluster_slots_pfail:0",
        "cluster_slots_fail:0",
        f"cluster_known_nodes:{len(known)}",
        f"cluster_size:{len(known)}",
        f"cluster_current_epoch:{len(known) - 1}",
        f"cluster_my_epoch:{mine}",
        "cluster_stats_messages_sent:0",
        "cluster_stats_messages_received:0",
        "total_cluster_links_buffer_limit_exceeded:0",
    ]
    return Verbatim("".join(line + "\r\n" for line in lines).encode())


@answers("cluster|myid")
def cluster_myid(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return node_id(ctx.announce or client.laddr)


@answers("cluster|keyslot")
def cluster_keyslot(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return key_slot(args[2])


@answers("cluster|countkeysinslot", waits=True)
async def cluster_countkeysinslot(
    ctx: RouterContext, client: ClientState, args: list[bytes]
) -> Reply:
    slot = _integer(args[2])
    if slot is None:
        return Error(errors.NOT_INTEGER)
    if not 0 <= slot < SLOT_COUNT:
        return Error(INVALID_SLOT)
    try:
        total, _ = await ctx.backend.slot_keys(slot, 0)
    except BackendError as failure:
        return Error(failure.reply)
    return total


@answers("cluster|getkeysinslot", waits=True)
async def cluster_getkeysinslot(
    ctx: RouterContext, client: ClientState, args: list[bytes]
) -> Reply:
    slot = _integer(args[2])
    count = _integer(args[3])
    if slot is None or count is None:
        return Error(errors.NOT_INTEGER)
    if not 0 <= slot < SLOT_COUNT or count < 0:
        return Error(INVALID_SLOT_OR_COUNT)
    try:
        _, keys = await ctx.backend.slot_keys(slot, count)
    except BackendError as failure:
        return Error(failure.reply)
    return list(keys)


@answers("cluster|replicas", "cluster|slaves")
def cluster_replicas(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if any(member.id == args[2] for member in members(ctx, client)):
        return []  # routers have no replicas
    return Error(b"ERR Unknown node %s" % args[2])


CLUSTER_HELP = [
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by the shard of <slot> in that slot.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "HELP",
    "    Prints this help.",
]


@answers("cluster|help")
def cluster_help(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return help_lines(CLUSTER_HELP)


@answers("asking")
def asking(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    """Routers never redirect, so an ASK never comes; a client may send it all the same."""
    return OK
