"""Sorted-set commands (Redis's t_zset.c)."""

from __future__ import annotations

from proto.commands.builder import DENYOOM, FAST, NOSCRIPT, RANDOM, READONLY, WRITE, command
from proto.commands.spec import Blocking, CommandSpec, numkeys_at

GROUP = "sorted_set"
_LOG_N = "O(log(N)) where N is the number of members"
_RANGE = "O(log(N)+M) where N is the number of members and M the number returned"
_ALGEBRA = "O(N)+O(M*log(M)) where N is the sum of the input sizes and M the result size"

# The timeout is the last argument, or the first after the name for BZMPOP; a pop that
# times out answers a null array.
_POP_TIMEOUT = Blocking(timeout_arg=-1)
_MPOP_TIMEOUT = Blocking(timeout_arg=1)
# ZUNIONSTORE destination numkeys key [key ...]: the destination, then numkeys keys.
_STORE_KEYS = numkeys_at(2, extra_before=(1,))


def _read(name: str, arity: int, summary: str, since: str) -> CommandSpec:
    """A read-only range query on one key."""
    return command(
        name,
        arity,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        summary=summary,
        since=since,
        complexity=_RANGE,
    )


COMMANDS = [
    command(
        "zadd",
        -4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        group=GROUP,
        since="1.2.0",
        summary="Adds members to a sorted set or updates their scores (NX XX GT LT CH INCR); "
        "creates the key if it does not exist.",
        complexity="O(log(N)) for each member",
    ),
    command(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        group=GROUP,
        since="1.2.0",
        summary="Increments the score of a member in a sorted set.",
        complexity=_LOG_N,
    ),
    command(
        "zrem",
        -3,
        WRITE | FAST,
        (1, 1, 1),
        group=GROUP,
        since="1.2.0",
        summary="Removes one or more members from a sorted set; deletes it when it is empty.",
        complexity="O(M*log(N)) where M is the number of members removed",
    ),
    command(
        "zremrangebyrank",
        4,
        WRITE,
        (1, 1, 1),
        group=GROUP,
        since="2.0.0",
        summary="Removes the members of a sorted set within a range of indexes.",
        complexity=_RANGE,
    ),
    command(
        "zremrangebyscore",
        4,
        WRITE,
        (1, 1, 1),
        group=GROUP,
        since="1.2.0",
        summary="Removes the members of a sorted set within a range of scores.",
        complexity=_RANGE,
    ),
    command(
        "zremrangebylex",
        4,
        WRITE,
        (1, 1, 1),
        group=GROUP,
        since="2.8.9",
        summary="Removes the members of a sorted set within a lexicographical range.",
        complexity=_RANGE,
    ),
    command(
        "zcard",
        2,
        READONLY | FAST,
        (1, 1, 1),
        group=GROUP,
        since="1.2.0",
        summary="Returns the number of members in a sorted set.",
    ),
    command(
        "zscore",
        3,
        READONLY | FAST,
        (1, 1, 1),
        group=GROUP,
        since="1.2.0",
        summary="Returns the score of a member in a sorted set.",
    ),
    command(
        "zmscore",
        -3,
        READONLY | FAST,
        (1, 1, 1),
        group=GROUP,
        since="6.2.0",
        summary="Returns the scores of one or more members in a sorted set.",
        complexity="O(N) where N is the number of members asked for",
    ),
    command(
        "zrank",
        3,
        READONLY | FAST,
        (1, 1, 1),
        group=GROUP,
        since="2.0.0",
        summary="Returns the index of a member in a sorted set ordered by ascending scores.",
        complexity=_LOG_N,
    ),
    command(
        "zrevrank",
        3,
        READONLY | FAST,
        (1, 1, 1),
        group=GROUP,
        since="2.0.0",
        summary="Returns the index of a member in a sorted set ordered by descending scores.",
        complexity=_LOG_N,
    ),
    command(
        "zcount",
        4,
        READONLY | FAST,
        (1, 1, 1),
        group=GROUP,
        since="2.0.0",
        summary="Returns the number of members in a sorted set within a range of scores.",
        complexity=_LOG_N,
    ),
    command(
        "zlexcount",
        4,
        READONLY | FAST,
        (1, 1, 1),
        group=GROUP,
        since="2.8.9",
        summary="Returns the number of members in a sorted set within a lexicographical range.",
        complexity=_LOG_N,
    ),
    _read(
        "zrange",
        -4,
        "Returns members of a sorted set within a range of indexes, scores (BYSCORE) or "
        "lexicographical values (BYLEX), optionally reversed (REV), paged (LIMIT) and with "
        "scores (WITHSCORES).",
        since="1.2.0",
    ),
    command(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        (1, 2, 1),
        group=GROUP,
        since="6.2.0",
        summary="Stores a range of members from a sorted set in a key.",
        complexity=_RANGE,
    ),
    _read(
        "zrevrange",
        -4,
        "Returns members of a sorted set within a range of indexes, highest score first.",
        since="1.2.0",
    ),
    _read(
        "zrangebyscore",
        -4,
        "Returns members of a sorted set within a range of scores.",
        since="1.0.5",
    ),
    _read(
        "zrevrangebyscore",
        -4,
        "Returns members of a sorted set within a range of scores, highest first.",
        since="2.2.0",
    ),
    _read(
        "zrangebylex",
        -4,
        "Returns members of a sorted set within a lexicographical range.",
        since="2.8.9",
    ),
    _read(
        "zrevrangebylex",
        -4,
        "Returns members of a sorted set within a lexicographical range, highest first.",
        since="2.8.9",
    ),
    command(
        "zpopmin",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        group=GROUP,
        since="5.0.0",
        summary="Removes and returns the members with the lowest scores; deletes the sorted "
        "set when its last member was popped.",
        complexity="O(log(N)*M) where M is the number of members popped",
    ),
    command(
        "zpopmax",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        group=GROUP,
        since="5.0.0",
        summary="Removes and returns the members with the highest scores; deletes the sorted "
        "set when its last member was popped.",
        complexity="O(log(N)*M) where M is the number of members popped",
    ),
    command(
        "bzpopmin",
        -3,
        WRITE | FAST | NOSCRIPT,
        (1, -2, 1),
        group=GROUP,
        blocking=_POP_TIMEOUT,
        since="5.0.0",
        summary="Removes and returns the member with the lowest score from the first non-empty "
        "sorted set, or blocks until one is available.",
        complexity=_LOG_N,
    ),
    command(
        "bzpopmax",
        -3,
        WRITE | FAST | NOSCRIPT,
        (1, -2, 1),
        group=GROUP,
        blocking=_POP_TIMEOUT,
        since="5.0.0",
        summary="Removes and returns the member with the highest score from the first "
        "non-empty sorted set, or blocks until one is available.",
        complexity=_LOG_N,
    ),
    command(
        "zmpop",
        -4,
        WRITE,
        group=GROUP,
        since="7.0.0",
        summary="Removes and returns members with the lowest (MIN) or highest (MAX) scores "
        "from the first non-empty sorted set.",
        complexity="O(K)+O(M*log(N)) where K is the number of keys and M of members popped",
        keys_function=numkeys_at(1),
    ),
    command(
        "bzmpop",
        -5,
        WRITE,
        group=GROUP,
        blocking=_MPOP_TIMEOUT,
        since="7.0.0",
        summary="Removes and returns members by score from the first non-empty sorted set, or "
        "blocks until one is available.",
        complexity="O(K)+O(M*log(N)) where K is the number of keys and M of members popped",
        keys_function=numkeys_at(2),
    ),
    command(
        "zrandmember",
        -2,
        READONLY | RANDOM,
        (1, 1, 1),
        group=GROUP,
        since="6.2.0",
        summary="Returns one or more random members from a sorted set (a negative count may "
        "repeat members), optionally with their scores.",
        complexity="O(N) where N is the number of members returned",
    ),
    command(
        "zunion",
        -3,
        READONLY,
        group=GROUP,
        since="6.2.0",
        summary="Returns the union of multiple sorted sets (WEIGHTS, AGGREGATE, WITHSCORES).",
        complexity=_ALGEBRA,
        keys_function=numkeys_at(1),
    ),
    command(
        "zinter",
        -3,
        READONLY,
        group=GROUP,
        since="6.2.0",
        summary="Returns the intersect of multiple sorted sets (WEIGHTS, AGGREGATE, WITHSCORES).",
        complexity=_ALGEBRA,
        keys_function=numkeys_at(1),
    ),
    command(
        "zdiff",
        -3,
        READONLY,
        group=GROUP,
        since="6.2.0",
        summary="Returns the difference between multiple sorted sets (WITHSCORES).",
        complexity=_ALGEBRA,
        keys_function=numkeys_at(1),
    ),
    command(
        "zintercard",
        -3,
        READONLY,
        group=GROUP,
        since="7.0.0",
        summary="Returns the number of members in the intersect of multiple sorted sets, "
        "optionally stopping at a LIMIT.",
        complexity="O(N*K) where N is the smallest input size and K the number of inputs",
        keys_function=numkeys_at(1),
    ),
    command(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        group=GROUP,
        since="2.0.0",
        summary="Stores the union of multiple sorted sets in a key.",
        complexity=_ALGEBRA,
        keys_function=_STORE_KEYS,
    ),
    command(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        group=GROUP,
        since="2.0.0",
        summary="Stores the intersect of multiple sorted sets in a key.",
        complexity=_ALGEBRA,
        keys_function=_STORE_KEYS,
    ),
    command(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        group=GROUP,
        since="6.2.0",
        summary="Stores the difference of multiple sorted sets in a key.",
        complexity=_ALGEBRA,
        keys_function=_STORE_KEYS,
    ),
    command(
        "zscan",
        -3,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        since="2.8.0",
        summary="Iterates over members and scores of a sorted set (MATCH, COUNT).",
        complexity="O(1) for every call, O(N) for a complete iteration",
    ),
]
