"""The shape of one entry of the command table.

The table is data, in the style of Redis's src/commands/*.json: the router reads it to find
keys, route and merge, the node reads it to tell reads from writes, to check arity and to
answer a blocking command that timed out, and COMMAND INFO / COMMAND DOCS render it.
Nothing else keeps its own list of commands or facts about one (proto/commands/index.py
builds the lookups every component uses).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from proto.resp import NULL_ARRAY, Reply


class Flag(enum.IntFlag):
    WRITE = enum.auto()  # may modify the data set: goes through the Raft log
    READONLY = enum.auto()  # never modifies the data set
    DENYOOM = enum.auto()  # refused with -OOM when over maxmemory (noeviction)
    ADMIN = enum.auto()
    FAST = enum.auto()
    BLOCKING = enum.auto()  # may return WOULD_BLOCK: the node parks it
    RANDOM = enum.auto()  # the reply may depend on randomness (needs the entry's seed)
    PUBSUB = enum.auto()
    NOSCRIPT = enum.auto()
    LOADING = enum.auto()
    STALE = enum.auto()
    NO_MULTI = enum.auto()  # refused inside MULTI (e.g. blocking-forever forms, MULTI itself)
    NO_AUTH = enum.auto()  # allowed before AUTH (AUTH, HELLO)


class Route(enum.Enum):
    """Where the router sends a command."""

    KEYED = "keyed"  # to the shard of its keys; keys in different slots -> CROSSSLOT
    SPLIT = "split"  # multi-key command split per shard and merged (MGET, DEL, ...)
    ALL_SHARDS = "all"  # fanned out to every shard and merged (DBSIZE, KEYS, SCAN, ...)
    ROUTER = "router"  # answered by the router itself (PING, HELLO, CLIENT, MULTI, ...)
    ANY_SHARD = "any"  # keyless but executed by an engine; any shard will do


class Merge(enum.Enum):
    """How the shards' replies to a command sent to several of them (Route.SPLIT and
    Route.ALL_SHARDS) make the client's one, as Redis's response_policy tips say."""

    SUM = "agg_sum"  # integers added up (DEL, EXISTS, DBSIZE)
    ALL_OK = "all_succeeded"  # +OK when every shard said so, else the first error (MSET)
    ALL_EXIST = "agg_logical_and"  # per position, 1 if every shard has it (SCRIPT EXISTS)
    CONCAT = "concat"  # the arrays joined (KEYS)
    IN_KEY_ORDER = "in_key_order"  # each key's value back in its place (MGET)
    SCAN = "scan"  # one shard's page, the cursor naming the shard (SCAN: one shard asked)
    RANDOM_KEY = "random_key"  # a shard drawn by its size answers (RANDOMKEY)
    ALL_EQUAL = "all_equal"  # the shards' one answer, or an error if they differ (FUNCTION LIST)


@dataclass(frozen=True, slots=True)
class Blocking:
    """What makes a command blocking: where its timeout argument is (seconds; a negative
    index counts from the end), its reply once it blocked and the timeout passed (Redis
    7.0's replyToBlockedClientTimedOut: a null array, whatever the command), and its reply
    where it may not block and finds nothing (inside MULTI or a script: a null array for
    the pops, a null bulk string for the moves).

    A command whose timeout is an option (LEASE.GET ... BLOCK ms) names it in `option`:
    the timeout is the argument after the option's last occurrence at or after
    `timeout_arg`, and without the option the command never blocks (timeout_position
    gives len(args), past the end). `milliseconds`: the timeout counts milliseconds."""

    timeout_arg: int
    reply_on_timeout: Reply = NULL_ARRAY
    reply_if_cannot_block: Reply = NULL_ARRAY
    # For a timeout given as an option (XREAD's BLOCK <ms>): where its value is in the
    # arguments, None when the option is absent (the command then never blocks).
    find_timeout: Callable[[list[bytes]], int | None] | None = None
    milliseconds: bool = False  # the timeout counts milliseconds, not seconds

    def timeout_index(self, argc: int) -> int:
        return self.timeout_arg if self.timeout_arg >= 0 else argc + self.timeout_arg

    def timeout_position(self, args: list[bytes]) -> int | None:
        """Where the timeout is in `args`, None if the command was given none."""
        if self.find_timeout is not None:
            return self.find_timeout(args)
        return self.timeout_index(len(args))


KeysFunction = Callable[[list[bytes]], list[int]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command. `arity` follows Redis: n > 0 means exactly n arguments including the
    command name, n < 0 means at least -n. Keys are at args[first_key:last_key+1:key_step]
    (last_key negative counts from the end), or where `keys_function` says for commands
    such as ZUNIONSTORE or LMPOP whose key count is itself an argument. `route` says where
    the command runs, `merge` how the replies of several shards combine, `blocking` where
    a blocking command's timeout is and what it answers once it passed.

    The flags the hot paths test are also plain booleans (is_write, is_read_only, ...),
    set from `flags` once: an IntFlag `&` costs about a microsecond."""

    name: str
    arity: int
    flags: Flag
    group: str
    summary: str
    since: str = "1.0.0"
    complexity: str = "O(1)"
    first_key: int = 0
    last_key: int = 0
    key_step: int = 0
    keys_function: KeysFunction | None = None
    route: Route = Route.KEYED
    subcommands: dict[str, CommandSpec] = field(default_factory=dict)
    acl_categories: tuple[str, ...] = ()
    merge: Merge | None = None
    blocking: Blocking | None = None
    is_write: bool = field(init=False)
    is_read_only: bool = field(init=False)
    is_blocking: bool = field(init=False)
    denied_when_oom: bool = field(init=False)  # DENYOOM
    allowed_before_auth: bool = field(init=False)  # NO_AUTH

    def __post_init__(self) -> None:
        if bool(self.flags & Flag.BLOCKING) != (self.blocking is not None):
            raise ValueError(f"{self.name}: the BLOCKING flag goes with its timeout, `blocking`")
        if (self.route in (Route.SPLIT, Route.ALL_SHARDS)) != (self.merge is not None):
            raise ValueError(f"{self.name}: a command sent to several shards needs a `merge`")
        derived = {
            "is_write": Flag.WRITE,
            "is_read_only": Flag.READONLY,
            "is_blocking": Flag.BLOCKING,
            "denied_when_oom": Flag.DENYOOM,
            "allowed_before_auth": Flag.NO_AUTH,
        }
        for attribute, flag in derived.items():
            object.__setattr__(self, attribute, bool(self.flags & flag))

    def arity_ok(self, argc: int) -> bool:
        return argc == self.arity if self.arity > 0 else argc >= -self.arity

    def key_positions(self, args: list[bytes]) -> list[int]:
        """Indexes of the keys in args (args[0] is the command name). A malformed key count
        yields what can be read; the engine then replies with the command's own error."""
        if self.keys_function is not None:
            return self.keys_function(args)
        if self.first_key == 0:
            return []
        last = self.last_key if self.last_key >= 0 else len(args) + self.last_key
        last = min(last, len(args) - 1)
        return list(range(self.first_key, last + 1, self.key_step))

    def keys(self, args: list[bytes]) -> list[bytes]:
        return [args[index] for index in self.key_positions(args)]


def numkeys_at(count_index: int, extra_before: tuple[int, ...] = ()) -> KeysFunction:
    """Keys function for `... numkeys key [key ...]` where numkeys is args[count_index];
    `extra_before` lists fixed key positions that come first (ZUNIONSTORE's destination)."""

    def positions(args: list[bytes]) -> list[int]:
        found = [index for index in extra_before if index < len(args)]
        try:
            count = int(args[count_index])
        except (IndexError, ValueError):
            return found
        if count <= 0:
            return found
        stop = min(count_index + 1 + count, len(args))
        return found + list(range(count_index + 1, stop))

    return positions
