"""Client tracking (server-assisted client-side caching) on one router, as Redis 7.0's
tracking.c: which keys each tracking client read, the BCAST prefixes, and the
invalidation messages (RESP3 `>2 invalidate [keys]` pushes; in RESP2, through REDIRECT, a
`message` on `__redis__:invalidate` to a subscribed client).

The keys come from the shard leaders (node/tracking_feed.py): whichever router's client
changed a key, its shard's leader publishes it on the internal INVALIDATE channel once
applied, and every router listening there (one with a tracking client) invalidates it.
A read's keys are remembered when the read is dispatched, before it reaches its shard:
a write applied after the read was served is always invalidated.

NOLOOP: a NOLOOP client's writes carry its id (KvRequest.writer) and the leader
publishes the keys only they changed as that client's (node/tracking_feed.py), which is
then left out. Known differences: a key that the NOLOOP client and another client both
changed in one log entry, or whose entry a new leader applied after a failover, is sent
to the NOLOOP client too (a cache miss, never a stale read); a REDIRECT target on
another router gets its invalidations through that router (router/router_bus.py), but a
broken redirect to one is not reported; a FLUSHALL invalidates each key it removed rather
than sending a null.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from proto.commands import CommandSpec, Flag
from proto.internal_channels import INVALIDATE, unpack_invalidation
from proto.resp import Push
from router.backend import Backend
from router.connection import ClientState, Tracking
from router.pubsub import Frame

INVALIDATE_CHANNEL = b"__redis__:invalidate"
# Redis's tracking-table-max-keys default: past it the oldest keys are invalidated (their
# readers told) and forgotten, as trackingLimitUsedSlots does (0: no limit).
MAX_KEYS = 1_000_000


class Receiver(Protocol):
    """A connection as tracking sees it (router.session.Session)."""

    @property
    def client(self) -> ClientState: ...

    def deliver(self, frame: Frame) -> None: ...


class TrackingTable:
    def __init__(
        self,
        backend: Backend,
        clients: Mapping[int, Receiver],
        forward: Callable[[int, list[bytes]], None] | None = None,
    ) -> None:
        self.backend = backend
        self.clients = clients
        # Sends an invalidation to a redirect target on another router (router/router_bus.py).
        self.forward = forward
        self.keys: dict[bytes, set[int]] = {}  # key -> ids of the clients that read it
        self.prefixes: dict[bytes, set[int]] = {}  # BCAST prefix -> client ids
        self.tracking: set[int] = set()
        self.max_keys = MAX_KEYS

    # ------------------------------------------------------------------ INFO

    @property
    def total_items(self) -> int:
        """tracking_total_items: (key, client) pairs remembered."""
        return sum(len(readers) for readers in self.keys.values())

    # ------------------------------------------------------------------ clients

    async def enable(self, client: ClientState, settings: Tracking) -> None:
        """Tracking on, with these settings; returns once the shards' invalidations for
        this router are flowing."""
        first = not self.tracking
        previous = client.tracking
        if previous is not None and previous.bcast:
            settings.prefixes = previous.prefixes + [
                p for p in settings.prefixes if p not in previous.prefixes
            ]
        if settings.bcast and not settings.prefixes:
            settings.prefixes = [b""]
        for prefix in settings.prefixes:
            self.prefixes.setdefault(prefix, set()).add(client.id)
        client.tracking = settings
        self.tracking.add(client.id)
        if first:
            self.backend.pubsub.listen(INVALIDATE, self.on_message)
            await self.backend.sync_subscriptions()

    def disable(self, client: ClientState) -> None:
        settings = client.tracking
        if settings is None:
            return
        client.tracking = None
        for prefix in settings.prefixes:
            holders = self.prefixes.get(prefix)
            if holders is not None:
                holders.discard(client.id)
                if not holders:
                    del self.prefixes[prefix]
        self.tracking.discard(client.id)
        if not self.tracking:
            self.backend.pubsub.unlisten(INVALIDATE)
            self.keys.clear()

    def remember(self, client: ClientState, spec: CommandSpec, args: list[bytes]) -> None:
        """trackingRememberKeys: the keys a read-only command of a tracking client reads
        (in OPTIN mode only after CLIENT CACHING yes, in OPTOUT mode unless CLIENT CACHING
        no). Then CLIENT CACHING's effect ends, but after a CLIENT command (CACHING
        itself, TRACKINGINFO, ...) and inside MULTI, as in Redis."""
        settings = client.tracking
        if settings is None:
            return
        if not settings.bcast and spec.flags & Flag.READONLY:
            wanted = not (settings.optin and not settings.caching) and not (
                settings.optout and settings.caching
            )
            if wanted:
                for key in spec.keys(args):
                    self.keys.setdefault(key, set()).add(client.id)
                self._limit()
        if not spec.name.startswith("client|") and not client.transaction.active:
            settings.caching = False

    def _limit(self) -> None:
        """Past max_keys, the oldest remembered keys are invalidated."""
        excess = len(self.keys) - self.max_keys if self.max_keys else 0
        if excess > 0:
            oldest = [key for key, _ in zip(self.keys, range(excess), strict=False)]
            self.invalidate(oldest, prefixes=False)

    # ------------------------------------------------------------------ invalidation

    def on_message(self, message: bytes) -> None:
        unpacked = unpack_invalidation(message)
        if unpacked is not None and unpacked[1]:
            self.invalidate(unpacked[1], writer=unpacked[0])

    def invalidate(self, keys: list[bytes], prefixes: bool = True, writer: int = 0) -> None:
        """Keys changed (by the client `writer`, if it tracks with NOLOOP): tell the clients
        that read them (and forget that they did) and the BCAST clients of a matching
        prefix, one message per client; not the writer if it tracks with NOLOOP (it is
        forgotten all the same, as Redis's trackingInvalidateKey does)."""
        per_client: dict[int, list[bytes]] = {}
        for key in keys:
            readers = self.keys.pop(key, None)
            if readers:
                for client_id in readers:
                    per_client.setdefault(client_id, []).append(key)
            for prefix, holders in self.prefixes.items() if prefixes else ():
                if key.startswith(prefix):
                    for client_id in holders:
                        per_client.setdefault(client_id, []).append(key)
        if writer in per_client:
            receiver = self.clients.get(writer)
            settings = receiver.client.tracking if receiver is not None else None
            if settings is not None and settings.noloop:
                del per_client[writer]
        for client_id, changed in per_client.items():
            self._send(client_id, changed)

    def _send(self, client_id: int, keys: list[bytes]) -> None:
        """sendTrackingMessage: to the client, or the client it redirects to."""
        receiver = self.clients.get(client_id)
        if receiver is None or receiver.client.tracking is None:
            return
        settings = receiver.client.tracking
        target = receiver
        if settings.redirect:
            redirected = self.clients.get(settings.redirect)
            if redirected is None and settings.remote_redirect and self.forward is not None:
                self.forward(settings.redirect, keys)
                return
            if redirected is None:
                if not settings.broken_redirect and receiver.client.resp3:
                    settings.broken_redirect = True
                    receiver.deliver(Frame(Push([b"tracking-redir-broken", settings.redirect])))
                return
            target = redirected
        deliver_invalidation(target, keys, redirected=bool(settings.redirect))


def noloop_writer(client: ClientState) -> int:
    """What a write of this client carries as its writer (Backend.execute): its CLIENT ID
    when it tracks with NOLOOP, else 0."""
    settings = client.tracking
    return client.id if settings is not None and settings.noloop else 0


def deliver_invalidation(target: Receiver, keys: list[bytes], redirected: bool) -> None:
    """A RESP3 push, or in RESP2 a message on __redis__:invalidate to a subscribed
    redirect target (nothing otherwise, as Redis)."""
    if target.client.resp3:
        target.deliver(Frame(Push([b"invalidate", list(keys)])))
    elif redirected and target.client.subscribed:
        target.deliver(Frame(Push([b"message", INVALIDATE_CHANNEL, list(keys)])))


def redirect_target(args: list[bytes], parse_id: Callable[[bytes], int | None]) -> int | None:
    """The id CLIENT TRACKING's first REDIRECT names, if any (to look it up beforehand)."""
    for index in range(1, len(args) - 1):
        if args[index].lower() == b"redirect":
            return parse_id(args[index + 1])
    return None


# ---------------------------------------------------------------------- CLIENT TRACKING


def check_prefixes(prefixes: list[bytes], existing: list[bytes]) -> bytes | None:
    """checkPrefixCollisionsOrReply: no prefix may be a prefix of another."""
    for index, prefix in enumerate(prefixes):
        for other in existing:
            if other.startswith(prefix) or prefix.startswith(other):
                return (
                    b"ERR Prefix '%s' overlaps with an existing prefix '%s'. "
                    b"Prefixes for a single client must not overlap." % (prefix, other)
                )
        for other in prefixes[index + 1 :]:
            if other.startswith(prefix) or prefix.startswith(other):
                return (
                    b"ERR Prefix '%s' overlaps with another provided prefix '%s'. "
                    b"Prefixes for a single client must not overlap." % (prefix, other)
                )
    return None


def parse_tracking(
    client: ClientState, args: list[bytes], exists: Callable[[int], bool], parse_id: Callable
) -> Tracking | bytes | None:
    """CLIENT TRACKING's arguments (after TRACKING): the settings for ON, None for OFF,
    or the error text, checked in Redis's order."""
    settings = Tracking()
    redirect_given = False
    index = 1
    while index < len(args):
        option = args[index].lower()
        more = index + 1 < len(args)
        if option == b"redirect" and more:
            index += 1
            if redirect_given:
                return b"ERR A client can only redirect to a single other client"
            redirect = parse_id(args[index])
            if redirect is None:
                return b"ERR value is not an integer or out of range"
            if redirect == client.id:
                return b"ERR A client can not redirect to itself"
            if not exists(redirect):
                return b"ERR The client ID you want redirect to does not exist"
            settings.redirect = redirect
            redirect_given = True
        elif option == b"bcast":
            settings.bcast = True
        elif option == b"optin":
            settings.optin = True
        elif option == b"optout":
            settings.optout = True
        elif option == b"noloop":
            settings.noloop = True
        elif option == b"prefix" and more:
            index += 1
            settings.prefixes.append(args[index])
        else:
            return b"ERR syntax error"
        index += 1
    state = args[0].lower()
    if state == b"off":
        return None
    if state != b"on":
        return b"ERR syntax error"
    if not settings.bcast and settings.prefixes:
        return b"ERR PREFIX option requires BCAST mode to be enabled"
    current = client.tracking
    if current is not None and current.bcast != settings.bcast:
        return (
            b"ERR You can't switch BCAST mode on/off before disabling tracking for this "
            b"client, and then re-enabling it with a different mode."
        )
    if settings.bcast and (settings.optin or settings.optout):
        return b"ERR OPTIN and OPTOUT are not compatible with BCAST"
    if settings.optin and settings.optout:
        return b"ERR You can't specify both OPTIN mode and OPTOUT mode"
    if current is not None and (
        (settings.optin and current.optout) or (settings.optout and current.optin)
    ):
        return (
            b"ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this "
            b"client, and then re-enabling it with a different mode."
        )
    if settings.bcast:
        problem = check_prefixes(settings.prefixes, current.prefixes if current else [])
        if problem is not None:
            return problem
    return settings


def info(client: ClientState) -> list[object]:
    """CLIENT TRACKINGINFO's map, as a flat list."""
    settings = client.tracking
    if settings is None:
        return [b"flags", [b"off"], b"redirect", -1, b"prefixes", []]
    flags = [b"on"]
    if settings.bcast:
        flags.append(b"bcast")
    if settings.optin:
        flags.append(b"optin")
        if settings.caching:
            flags.append(b"caching-yes")
    if settings.optout:
        flags.append(b"optout")
        if settings.caching:
            flags.append(b"caching-no")
    if settings.noloop:
        flags.append(b"noloop")
    if settings.broken_redirect:
        flags.append(b"broken_redirect")
    return [b"flags", flags, b"redirect", settings.redirect, b"prefixes", list(settings.prefixes)]
