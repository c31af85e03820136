"""What the router needs from the shards, independent of how it reaches them.

The cluster implementation talks gRPC to the shard leaders; tests can use an in-process
backend built on engines. The router's own logic (parsing, routing, splitting, MULTI) only
sees this interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from proto import slotraft_pb2 as pb
from proto.acl_table import AclTable
from router.pubsub import PubSubRegistry

# A connection's writes as WAIT sees them: for each shard it wrote to, the log index of the
# entry that applied its last acknowledged write there. The backend notes an index in it
# when the reply comes, before the client sees the reply.
WriteMarks = dict[int, int]


class BackendError(Exception):
    """A shard could not answer; `reply` is the RESP error text to send (without '-'),
    e.g. b"CLUSTERDOWN The cluster is down" or b"TRYAGAIN ...". The router never guesses
    an answer when it gets this."""

    def __init__(self, reply: bytes) -> None:
        super().__init__(reply.decode("utf-8", "replace"))
        self.reply = reply


@dataclass(frozen=True, slots=True)
class ScriptCaller:
    """A restricted user's scripts (Backend.execute's `caller`): the rules every replica
    checks their redis.call against (proto/acl_check.py caller_rules), and where the calls
    refused go (`refused(reason, object)`: the connection's ACL LOG, context lua)."""

    rules: bytes
    refused: Callable[[int, bytes], None]


@dataclass(frozen=True, slots=True)
class ReplicaOffset:
    """A node as ROLE lists it: where it is, and how much of the shards' logs it holds."""

    host: str
    port: int
    offset: int


@dataclass(frozen=True, slots=True)
class Replication:
    """What ROLE shows: the leaders' log length (`offset`) and each node's (`replicas`),
    both summed over the shards (see Backend.replication)."""

    offset: int = 0
    replicas: list[ReplicaOffset] = field(default_factory=list)


def note_write(marks: WriteMarks | None, shard: int, index: int) -> None:
    """A write on `shard` applied at log `index` was acknowledged."""
    if marks is not None and index > marks.get(shard, 0):
        marks[shard] = index


@dataclass(frozen=True, slots=True)
class Watch:
    """A WATCHed key and the digest of its value (and TTL) when WATCH ran."""

    key: bytes
    digest: bytes


class Backend(Protocol):
    # This router's part of the client id space: its clients' ids are tag << 32 | n
    # (docs/ARCHITECTURE.md). 0 for a router alone (the local backend).
    router_tag: int

    @property
    def shard_count(self) -> int: ...

    def shard_for_slot(self, slot: int) -> int:
        """The shard that owns a hash slot (from the slot map)."""
        ...

    def execute(
        self,
        shard: int,
        commands: list[list[bytes]],
        resp3: bool,
        follower_read: bool = False,
        marks: WriteMarks | None = None,
        writer: int = 0,
        caller: ScriptCaller | None = None,
        db: int = 0,
    ) -> Awaitable[list[bytes]]:
        """Run commands on a shard, in order, each atomically on its own; the awaitable
        gives one encoded reply (RESP2 or RESP3 per `resp3`) per command. Blocking
        commands wait on the shard until served or timed out. Reads are linearizable
        unless follower_read. A backend may send the request before it is awaited (the
        cluster backend does, so that a batch's shards are asked at once); an awaitable
        that is a coroutine and never awaited may be closed. The log index of the writes
        goes into `marks` (note_write) when they are answered. `writer`: the CLIENT ID of
        a connection tracking with NOLOOP (0: none), which the invalidations of the keys
        these commands change leave out (router/tracking.py). `caller`: a restricted ACL
        user's, when the commands run scripts (None for an unrestricted user). `db`: the
        connection's database (SELECT)."""
        ...

    async def transaction(
        self,
        shard: int,
        commands: list[list[bytes]],
        resp3: bool,
        watches: list[Watch],
        marks: WriteMarks | None = None,
        writer: int = 0,
        caller: ScriptCaller | None = None,
        db: int = 0,
    ) -> bytes:
        """Run a MULTI/EXEC body atomically (one log entry), starting in database `db`;
        returns the encoded EXEC reply: an array of replies, or the null reply if a watched
        key's digest changed."""
        ...

    async def unblock(self, task: asyncio.Task, error: bool) -> bool:
        """CLIENT UNBLOCK: answer the blocking command `task` awaits (through `execute`)
        now, with its timeout reply or (error) -UNBLOCKED; False if it is not parked."""
        ...

    async def digests(self, shard: int, keys: list[bytes], db: int = 0) -> list[bytes]:
        """Current digests of keys of database `db` (for WATCH), read linearizably."""
        ...

    async def swap_databases(self, first: int, second: int) -> None:
        """SWAPDB: the two databases exchange their contents, atomically for every client
        of every router; returns once the swap is in force everywhere. Raises
        BackendError when it cannot be done now."""
        ...

    async def info(self, shard: int) -> dict[str, Any]:
        """What INFO shows about a shard. The engine's counters (`Engine.stats()`: keys,
        expires, used_memory, expired_keys, evicted_keys, keyspace_hits, keyspace_misses)
        are added up over the shards; every entry (e.g. leader, replicas, term,
        commit_index) is listed under the shard in INFO cluster. Raises BackendError
        when the shard cannot answer."""
        ...

    # ------------------------------------------------------------------ the cluster's face
    # CLUSTER, WAIT, ROLE and the persistence commands (router/cluster_commands.py,
    # router/replication_commands.py).

    def announce(self, address: str, tls_port: int = 0) -> None:
        """Make this router known to the other routers at `address` (HOST:PORT, as clients
        reach it) and its TLS port on that host (0: none), for as long as it runs."""
        ...

    def routers(self) -> list[str]:
        """The addresses of the routers that announced themselves recently (this one
        included once announced), sorted."""
        ...

    def router_tls_ports(self) -> dict[str, int]:
        """The same routers, each with its TLS port (0: none)."""
        ...

    async def wait_replicated(self, marks: WriteMarks, replicas: int, timeout: float | None) -> int:
        """WAIT: the number of followers that hold every write in `marks` (the least over
        its shards), once `replicas` do or `timeout` seconds passed (None: no limit; 0:
        answer at once). Without writes: the followers every shard has."""
        ...

    async def replication(self) -> Replication:
        """ROLE: over the nodes that answer, each node's offset is the sum over the shards
        of the log index its replica holds (as the shard's leader knows it, the leader's
        own last index for its own replica); the master offset is the sum of the leaders'
        last indexes."""
        ...

    async def save(self) -> float:
        """SAVE: every node snapshots every replica it hosts; the Unix time the last one
        finished. Raises BackendError if a node cannot."""
        ...

    async def last_save(self) -> float:
        """LASTSAVE: the earliest of the nodes' last saves (Unix seconds), over the nodes
        that answer: it moves past a save once every one of them has made it."""
        ...

    async def slot_keys(self, slot: int, count: int) -> tuple[int, list[bytes]]:
        """CLUSTER COUNTKEYSINSLOT / GETKEYSINSLOT: how many keys the slot holds, and up to
        `count` of them."""

    # ------------------------------------------------------------------ configuration

    def cluster_settings(self) -> tuple[int, dict[str, str]]:
        """The cluster-wide settings (proto/redis_config.py CLUSTER_PARAMETERS, canonical
        values) as the nodes apply them, the newest seen, and their version (the metadata
        log index of the last change; larger is newer)."""
        ...

    def acl(self) -> AclTable:
        """The ACL users as the metadata group applied them, the newest seen."""
        ...

    def on_acl_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever `acl` changes (on this router: a change made through
        another router arrives through the nodes)."""
        ...

    async def change_acl(self, change: dict[str, Any]) -> int:
        """Apply an ACL change (proto/acl_table.py) cluster-wide; returns once `acl`
        shows it, with what the command answers (DELUSER's count). AclError if refused,
        BackendError if it could not be applied."""
        ...

    async def set_cluster_settings(self, settings: dict[str, str]) -> None:
        """Change cluster-wide settings, all or none (CONFIG SET); returns once the change
        applied and `cluster_settings` shows it. Raises BackendError when it could not be
        made (the text says why)."""
        ...

    async def node_reports(self) -> list[pb.NodeReport]:
        """What each node that answers says of itself (INFO persistence, replication,
        memory); none for a backend without nodes."""
        ...

    # ------------------------------------------------------------------ pub/sub
    # `pubsub` holds this router's subscriptions; the backend delivers into it the messages
    # published through any router, and keeps the nodes informed of it.
    pubsub: PubSubRegistry

    async def publish(self, channel: bytes, message: bytes, sender: int) -> int:
        """PUBLISH: the number of clients, over every router, that receive the message.
        Messages of one sender (a connection id) are delivered in the order published.
        Raises BackendError when no node takes it."""
        ...

    async def spublish(self, channel: bytes, message: bytes, sender: int) -> int:
        """SPUBLISH: through the nodes of the shard of the channel's slot only; the number
        of clients, over every router, subscribed to the shard channel (a sender's
        messages in order). Raises BackendError when none of those nodes takes it."""
        ...

    async def sync_subscriptions(self) -> None:
        """Return once `pubsub`'s current set is known wherever a message may be published
        (best effort, bounded in time: never raises)."""
        ...

    async def pubsub_channels(self, pattern: bytes | None) -> list[bytes]:
        """PUBSUB CHANNELS over every router: channels with subscribers, matching the glob
        `pattern` if given."""
        ...

    async def pubsub_numsub(self, channels: list[bytes]) -> list[int]:
        """PUBSUB NUMSUB over every router: the subscribers of each channel."""
        ...

    async def pubsub_numpat(self) -> int:
        """PUBSUB NUMPAT over every router: the number of distinct patterns."""
        ...

    async def pubsub_shardchannels(self, pattern: bytes | None) -> list[bytes]:
        """PUBSUB SHARDCHANNELS over every router."""
        ...

    async def pubsub_shardnumsub(self, channels: list[bytes]) -> list[int]:
        """PUBSUB SHARDNUMSUB over every router."""
        ...

    def pubsub_info(self) -> list[str]:
        """INFO lines on the delivery of messages to this router: broken node streams and
        the messages possibly lost meanwhile (none for a backend without nodes)."""
        ...
