"""Sorted-set commands (Redis's t_zset.c)."""

from __future__ import annotations

from proto.commands.builder import B, F, M, R, W, X, command
from proto.commands.spec import CommandSpec, Flag, numkeys_at

_G = "sorted_set"
_NOSCRIPT = Flag.NOSCRIPT  # refused inside scripts, as in Redis 7.0 (BZMPOP is allowed)
_LOG_N = "O(log(N)) where N is the number of members"
_RANGE = "O(log(N)+M) where N is the number of members and M the number returned"
_ALGEBRA = "O(N)+O(M*log(M)) where N is the sum of the input sizes and M the result size"

# ZUNIONSTORE destination numkeys key [key ...]: the destination, then numkeys keys.
_STORE_KEYS = numkeys_at(2, extra_before=(1,))


def _read(name: str, arity: int, summary: str, since: str) -> CommandSpec:
    """A read-only range query on one key."""
    return command(
        name, arity, R, (1, 1, 1), group=_G, summary=summary, since=since, complexity=_RANGE
    )


COMMANDS = [
    command(
        "zadd",
        -4,
        W | M | F,
        (1, 1, 1),
        group=_G,
        since="1.2.0",
        summary="Adds members to a sorted set or updates their scores (NX XX GT LT CH INCR); "
        "creates the key if it does not exist.",
        complexity="O(log(N)) for each member",
    ),
    command(
        "zincrby",
        4,
        W | M | F,
        (1, 1, 1),
        group=_G,
        since="1.2.0",
        summary="Increments the score of a member in a sorted set.",
        complexity=_LOG_N,
    ),
    command(
        "zrem",
        -3,
        W | F,
        (1, 1, 1),
        group=_G,
        since="1.2.0",
        summary="Removes one or more members from a sorted set; deletes it when it is empty.",
        complexity="O(M*log(N)) where M is the number of members removed",
    ),
    command(
        "zremrangebyrank",
        4,
        W,
        (1, 1, 1),
        group=_G,
        since="2.0.0",
        summary="Removes the members of a sorted set within a range of indexes.",
        complexity=_RANGE,
    ),
    command(
        "zremrangebyscore",
        4,
        W,
        (1, 1, 1),
        group=_G,
        since="1.2.0",
        summary="Removes the members of a sorted set within a range of scores.",
        complexity=_RANGE,
    ),
    command(
        "zremrangebylex",
        4,
        W,
        (1, 1, 1),
        group=_G,
        since="2.8.9",
        summary="Removes the members of a sorted set within a lexicographical range.",
        complexity=_RANGE,
    ),
    command(
        "zcard",
        2,
        R | F,
        (1, 1, 1),
        group=_G,
        since="1.2.0",
        summary="Returns the number of members in a sorted set.",
    ),
    command(
        "zscore",
        3,
        R | F,
        (1, 1, 1),
        group=_G,
        since="1.2.0",
        summary="Returns the score of a member in a sorted set.",
    ),
    command(
        "zmscore",
        -3,
        R | F,
        (1, 1, 1),
        group=_G,
        since="6.2.0",
        summary="Returns the scores of one or more members in a sorted set.",
        complexity="O(N) where N is the number of members asked for",
    ),
    command(
        "zrank",
        3,
        R | F,
        (1, 1, 1),
        group=_G,
        since="2.0.0",
        summary="Returns the index of a member in a sorted set ordered by ascending scores.",
        complexity=_LOG_N,
    ),
    command(
        "zrevrank",
        3,
        R | F,
        (1, 1, 1),
        group=_G,
        since="2.0.0",
        summary="Returns the index of a member in a sorted set ordered by descending scores.",
        complexity=_LOG_N,
    ),
    command(
        "zcount",
        4,
        R | F,
        (1, 1, 1),
        group=_G,
        since="2.0.0",
        summary="Returns the number of members in a sorted set within a range of scores.",
        complexity=_LOG_N,
    ),
    command(
        "zlexcount",
        4,
        R | F,
        (1, 1, 1),
        group=_G,
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
        W | M,
        (1, 2, 1),
        group=_G,
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
        W | F,
        (1, 1, 1),
        group=_G,
        since="5.0.0",
        summary="Removes and returns the members with the lowest scores; deletes the sorted "
        "set when its last member was popped.",
        complexity="O(log(N)*M) where M is the number of members popped",
    ),
    command(
        "zpopmax",
        -2,
        W | F,
        (1, 1, 1),
        group=_G,
        since="5.0.0",
        summary="Removes and returns the members with the highest scores; deletes the sorted "
        "set when its last member was popped.",
        complexity="O(log(N)*M) where M is the number of members popped",
    ),
    command(
        "bzpopmin",
        -3,
        W | F | B | _NOSCRIPT,
        (1, -2, 1),
        group=_G,
        since="5.0.0",
        summary="Removes and returns the member with the lowest score from the first non-empty "
        "sorted set, or blocks until one is available.",
        complexity=_LOG_N,
    ),
    command(
        "bzpopmax",
        -3,
        W | F | B | _NOSCRIPT,
        (1, -2, 1),
        group=_G,
        since="5.0.0",
        summary="Removes and returns the member with the highest score from the first "
        "non-empty sorted set, or blocks until one is available.",
        complexity=_LOG_N,
    ),
    command(
        "zmpop",
        -4,
        W,
        group=_G,
        since="7.0.0",
        summary="Removes and returns members with the lowest (MIN) or highest (MAX) scores "
        "from the first non-empty sorted set.",
        complexity="O(K)+O(M*log(N)) where K is the number of keys and M of members popped",
        keys_function=numkeys_at(1),
    ),
    command(
        "bzmpop",
        -5,
        W | B,
        group=_G,
        since="7.0.0",
        summary="Removes and returns members by score from the first non-empty sorted set, or "
        "blocks until one is available.",
        complexity="O(K)+O(M*log(N)) where K is the number of keys and M of members popped",
        keys_function=numkeys_at(2),
    ),
    command(
        "zrandmember",
        -2,
        R | X,
        (1, 1, 1),
        group=_G,
        since="6.2.0",
        summary="Returns one or more random members from a sorted set (a negative count may "
        "repeat members), optionally with their scores.",
        complexity="O(N) where N is the number of members returned",
    ),
    command(
        "zunion",
        -3,
        R,
        group=_G,
        since="6.2.0",
        summary="Returns the union of multiple sorted sets (WEIGHTS, AGGREGATE, WITHSCORES).",
        complexity=_ALGEBRA,
        keys_function=numkeys_at(1),
    ),
    command(
        "zinter",
        -3,
        R,
        group=_G,
        since="6.2.0",
        summary="Returns the intersect of multiple sorted sets (WEIGHTS, AGGREGATE, WITHSCORES).",
        complexity=_ALGEBRA,
        keys_function=numkeys_at(1),
    ),
    command(
        "zdiff",
        -3,
        R,
        group=_G,
        since="6.2.0",
        summary="Returns the difference between multiple sorted sets (WITHSCORES).",
        complexity=_ALGEBRA,
        keys_function=numkeys_at(1),
    ),
    command(
        "zintercard",
        -3,
        R,
        group=_G,
        since="7.0.0",
        summary="Returns the number of members in the intersect of multiple sorted sets, "
        "optionally stopping at a LIMIT.",
        complexity="O(N*K) where N is the smallest input size and K the number of inputs",
        keys_function=numkeys_at(1),
    ),
    command(
        "zunionstore",
        -4,
        W | M,
        group=_G,
        since="2.0.0",
        summary="Stores the union of multiple sorted sets in a key.",
        complexity=_ALGEBRA,
        keys_function=_STORE_KEYS,
    ),
    command(
        "zinterstore",
        -4,
        W | M,
        group=_G,
        since="2.0.0",
        summary="Stores the intersect of multiple sorted sets in a key.",
        complexity=_ALGEBRA,
        keys_function=_STORE_KEYS,
    ),
    command(
        "zdiffstore",
        -4,
        W | M,
        group=_G,
        since="6.2.0",
        summary="Stores the difference of multiple sorted sets in a key.",
        complexity=_ALGEBRA,
        keys_function=_STORE_KEYS,
    ),
    command(
        "zscan",
        -3,
        R,
        (1, 1, 1),
        group=_G,
        since="2.8.0",
        summary="Iterates over members and scores of a sorted set (MATCH, COUNT).",
        complexity="O(1) for every call, O(N) for a complete iteration",
    ),
]
