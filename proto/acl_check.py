"""What an ACL user may run (Redis 7.0's ACLCheckAllUserCommandPerm): the command, then its
keys (read or write, from the command table's key positions and flags), then its channels;
a user passes if one of its selectors allows all three. The keys a command reads or writes
are known from its flags, and for the commands whose keys differ (a destination and
sources, a value returned as it is changed) from the tables below, which follow Redis 7.0's
key specs. Pure: routers check each client command with it (router/acl_check.py), and every
replica checks a script's redis.call with it (node/engine/scripting.py)."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from proto.acl import ALL_PERMISSIONS, READ, WRITE, Selector, User
from proto.commands.spec import CommandSpec

# Writes that also return (ACCESS) what they change: every key needs read and write.
_READ_AND_WRITE = frozenset(
    [
        "incr",
        "decr",
        "incrby",
        "decrby",
        "incrbyfloat",
        "getset",
        "getdel",
        "getex",
        "lpop",
        "rpop",
        "blpop",
        "brpop",
        "lmpop",
        "blmpop",
        "spop",
        "zpopmin",
        "zpopmax",
        "bzpopmin",
        "bzpopmax",
        "zmpop",
        "bzmpop",
        "zincrby",
        "hincrby",
        "hincrbyfloat",
        "setbit",
        "xreadgroup",
        "eval",
        "evalsha",
        "fcall",
    ]
)
# The first key is read and written (a source), the rest only written (destinations).
_SOURCE_THEN_DESTINATION = frozenset(
    ["lmove", "blmove", "rpoplpush", "brpoplpush", "smove", "rename", "renamenx"]
)
# The first key is written (a destination), the rest read (sources).
_DESTINATION_THEN_SOURCES = frozenset(
    [
        "sinterstore",
        "sunionstore",
        "sdiffstore",
        "zunionstore",
        "zinterstore",
        "zdiffstore",
        "zrangestore",
        "bitop",
        "geosearchstore",
    ]
)
# Reads that show no value (RO without ACCESS): any key pattern will do.
_NO_ACCESS = frozenset(
    [
        "exists",
        "type",
        "strlen",
        "hexists",
        "sismember",
        "watch",
        "memory|usage",
        "llen",
        "scard",
        "zcard",
        "hlen",
        "hstrlen",
        "xlen",
        "touch",
        "object|encoding",
        "object|freq",
        "object|idletime",
        "object|refcount",
    ]
)
_SHARD_CHANNELS = frozenset(["spublish", "ssubscribe", "sunsubscribe"])
# Read (ACCESS) whatever the command's flags say: HyperLogLog's cached count, the
# read-only scripts.
_READ = frozenset(["eval_ro", "evalsha_ro", "fcall_ro", "pfcount", "pfdebug"])


def key_needs(spec: CommandSpec, args: list[bytes]) -> list[tuple[bytes, int]]:
    """Each key of the command with the permissions it needs (READ, WRITE or both; 0:
    any pattern)."""
    name = spec.name
    if name in _SHARD_CHANNELS:  # a shard channel routes like a key but is not one (NOT_KEY)
        return []
    positions = spec.key_positions(args)
    if not positions:
        return []
    keys = [args[index] for index in positions]
    if name in _NO_ACCESS:
        return [(key, 0) for key in keys]
    if name in _READ:
        return [(key, READ) for key in keys]
    if name == "bitfield":  # VARIABLE_FLAGS: only its SET and INCRBY write
        writes = any(arg.lower() in (b"set", b"incrby") for arg in args[2:])
        return [(key, ALL_PERMISSIONS if writes else READ) for key in keys]
    if name in _READ_AND_WRITE or (name == "set" and any(a.lower() == b"get" for a in args[3:])):
        return [(key, ALL_PERMISSIONS) for key in keys]
    if name in _SOURCE_THEN_DESTINATION:
        return [(keys[0], ALL_PERMISSIONS)] + [(key, WRITE) for key in keys[1:]]
    if name in _DESTINATION_THEN_SOURCES or name == "pfmerge":
        first = ALL_PERMISSIONS if name == "pfmerge" else WRITE
        return [(keys[0], first)] + [(key, READ) for key in keys[1:]]
    if name == "copy":
        return [(keys[0], READ)] + [(key, WRITE) for key in keys[1:]]
    if spec.is_write:
        return [(key, WRITE) for key in keys]
    return [(key, READ) for key in keys]


def channels_of(spec: CommandSpec, args: list[bytes]) -> tuple[list[bytes], bool]:
    """The channels a command uses (getChannelsFromCommand) and whether they are
    patterns."""
    name = spec.name
    if name in ("publish", "spublish"):
        return [args[1]], False
    if name in ("subscribe", "ssubscribe"):
        return args[1:], False
    if name == "psubscribe":
        return args[1:], True
    return [], False


class Reason(enum.IntEnum):
    """ACL_DENIED_*: when no selector allows a command, the furthest reason is told."""

    COMMAND = 1
    KEY = 2
    CHANNEL = 4


@dataclass(frozen=True, slots=True)
class Denial:
    reason: Reason
    object: bytes  # the command's full name, the key or the channel
    position: int = 0  # which key or channel (the furthest is told)


def _check_selector(selector: Selector, spec: CommandSpec, args: list[bytes]) -> Denial | None:
    if not selector.allows_command(spec, args):
        return Denial(Reason.COMMAND, spec.name.encode())
    if not selector.allkeys:
        for position, (key, needed) in enumerate(key_needs(spec, args)):
            if not selector.allows_key(key, needed):
                return Denial(Reason.KEY, key, position)
    if not selector.allchannels:
        channels, patterns = channels_of(spec, args)
        for position, channel in enumerate(channels):
            if not selector.allows_channel(channel, patterns):
                return Denial(Reason.CHANNEL, channel, position)
    return None


def check(user: User, spec: CommandSpec, args: list[bytes]) -> Denial | None:
    """None if the user may run the command, else why not."""
    worst: Denial | None = None
    for selector in user.selectors_in_order():
        denial = _check_selector(selector, spec, args)
        if denial is None:
            return None
        if worst is None or (denial.reason, denial.position) > (worst.reason, worst.position):
            worst = denial
    return worst


# A caller's rules in a script's log entry are at most this long (a user holds at most
# MAX_RULES_PER_USER rules; patterns are client arguments, bounded by the router's limits).
MAX_CALLER_RULES = 1 << 20


def caller_rules(user: User) -> bytes:
    """What a script's log entry carries of a restricted user: its selectors (no name, no
    passwords), for every replica to check the script's commands against."""
    selectors = [selector.to_json() for selector in user.selectors_in_order()]
    return json.dumps(selectors, separators=(",", ":")).encode("latin-1")


def caller_from_rules(rules: bytes) -> User | None:
    """The user that `caller_rules` described, or None if `rules` cannot be read (a
    malformed entry: every replica reads the same bytes, so it denies everything alike)."""
    if len(rules) > MAX_CALLER_RULES:
        return None
    try:
        raw = json.loads(rules.decode("latin-1"))
        if type(raw) is not list or not raw:
            return None
        selectors = [Selector.from_json(selector) for selector in raw]
    except Exception:  # any shape json can give: a malformed entry, denied alike everywhere
        return None
    return User(name=b"", enabled=True, root=selectors[0], selectors=selectors[1:])
