"""SORT and SORT_RO against redis-server with BY and GET patterns (weights in strings and
hash fields, missing ones), LIMIT, ASC/DESC, ALPHA and STORE, over lists, sets and sorted
sets; and the cluster errors against a cluster-mode redis-server.

Patterns carry the sorted key's hash tag: slotraft accepts only those (a cluster). The
data is made so that no two elements compare equal where Redis leaves their order to
its hash table (ALPHA with BY over a set: every element has a distinct weight) or to its
partial quicksort (ALPHA with BY and LIMIT), which this engine does not reproduce."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.harness import Differential, normalize_unordered
from tests.differential.test_scripting_differential import cluster_redis_port  # noqa: F401

element = st.one_of(
    st.integers(-50, 50).map(lambda n: b"%d" % n),
    st.sampled_from([b"a", b"b", b"zz", b"1.5", b"-2.5e1", b"x y", b"10", b"007", b"inf"]),
)
weight = st.one_of(
    st.integers(-20, 20).map(lambda n: b"%d" % n),
    st.sampled_from([b"1.5", b"-0.5", b"abc", b"", b" 3", b"3 ", b"1e400", b"0x10", b"nan"]),
)
by = st.sampled_from(
    [[], [b"BY", b"{s}w_*"], [b"BY", b"{s}h_*->f"], [b"BY", b"nosort"], [b"BY", b"{s}none_*"]]
)
get = st.lists(
    st.sampled_from([b"#", b"{s}w_*", b"{s}h_*->f", b"{s}h_*->g", b"{s}none_*", b"{s}h_*"]),
    max_size=3,
)
limit: st.SearchStrategy[list[bytes]] = st.one_of(
    st.just([]),
    st.tuples(st.integers(-2, 8), st.integers(-2, 8)).map(
        lambda t: [b"LIMIT", b"%d" % t[0], b"%d" % t[1]]
    ),
)


@pytest.mark.parametrize("kind", [b"list", b"set", b"zset"])
def test_sort_with_patterns_matches_redis(redis_port, kind):
    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        elements=st.lists(element, min_size=0, max_size=12, unique=kind != b"list"),
        weights=st.lists(weight, min_size=12, max_size=12),
        by_option=by,
        gets=get,
        limit_option=limit,
        desc=st.booleans(),
        alpha=st.booleans(),
        store=st.booleans(),
        read_only=st.booleans(),
    )
    def run(elements, weights, by_option, gets, limit_option, desc, alpha, store, read_only):
        diff = Differential(redis_port)
        try:
            alpha_by = alpha and by_option[1:2] not in ([], [b"nosort"])
            if alpha_by and (kind != b"list" or limit_option):
                # Ties would be in Redis's hash table order, or with LIMIT in the order its
                # partial quicksort (pqsort) leaves them: distinct weights for all.
                weights = [b"w%02d" % i for i in range(12)]
                if by_option == [b"BY", b"{s}none_*"]:
                    by_option = [b"BY", b"{s}w_*"]
            for index, item in enumerate(elements):
                if kind == b"list":
                    diff.check([b"RPUSH", b"{s}src", item])
                elif kind == b"set":
                    diff.check([b"SADD", b"{s}src", item])
                else:
                    diff.check([b"ZADD", b"{s}src", b"%d" % (index % 3), item])
                diff.check([b"SET", b"{s}w_" + item, weights[index % 12]])
                diff.check([b"HSET", b"{s}h_" + item, b"f", weights[(index + 5) % 12]])
            args = [b"SORT_RO" if read_only else b"SORT", b"{s}src", *by_option]
            args += [part for pattern in gets for part in (b"GET", pattern)]
            args += limit_option
            args += [b"DESC"] if desc else []
            args += [b"ALPHA"] if alpha else []
            unordered = kind == b"set" and by_option == [b"BY", b"nosort"]
            if unordered:
                args = [a for a in args if a not in limit_option]  # which ones: unspecified
            if store:
                args += [b"STORE", b"{s}dst"]
            diff.check(args, normalize_unordered if unordered else None)
            if store:
                diff.check(
                    [b"LRANGE", b"{s}dst", b"0", b"-1"], normalize_unordered if unordered else None
                )
            diff.check([b"OBJECT", b"ENCODING", b"{s}src"])
        finally:
            diff.close()

    run()


def test_sort_errors_match_redis(redis_port):
    diff = Differential(redis_port)
    try:
        diff.check([b"RPUSH", b"{s}l", b"1", b"b"])
        diff.check([b"SET", b"{s}str", b"1"])
        diff.check([b"HSET", b"{s}hash", b"f", b"1"])
        for args in (
            [b"SORT", b"{s}l"],
            [b"SORT", b"{s}l", b"ALPHA"],
            [b"SORT", b"{s}str"],
            [b"SORT", b"{s}hash"],
            [b"SORT", b"{s}l", b"LIMIT", b"1"],
            [b"SORT", b"{s}l", b"LIMIT", b"a", b"1"],
            [b"SORT", b"{s}l", b"LIMIT", b"1", b"9223372036854775808"],
            [b"SORT", b"{s}l", b"BY"],
            [b"SORT", b"{s}l", b"GET"],
            [b"SORT", b"{s}l", b"STORE"],
            [b"SORT_RO", b"{s}l", b"STORE", b"{s}d"],
            [b"SORT", b"{s}l", b"ALPHA", b"STORE", b"{s}str"],
            [b"GET", b"{s}str"],
            [b"SORT", b"{s}missing", b"STORE", b"{s}l"],
            [b"EXISTS", b"{s}l"],
            [b"SORT", b"{s}l", b"bogus"],
        ):
            diff.check(args)
    finally:
        diff.close()


def test_cross_slot_patterns_get_redis_cluster_errors(cluster_redis_port):  # noqa: F811
    diff = Differential(cluster_redis_port)
    try:
        diff.check([b"RPUSH", b"{s}l", b"1", b"2"])
        for args in (
            [b"SORT", b"{s}l", b"BY", b"w_*"],
            [b"SORT", b"{s}l", b"BY", b"*{s}"],
            [b"SORT", b"{s}l", b"BY", b"{t}w_*"],
            [b"SORT", b"{s}l", b"GET", b"w_*"],
            [b"SORT_RO", b"{s}l", b"GET", b"{t}*->f"],
            [b"SORT", b"{s}l", b"LIMIT", b"0", b"1", b"GET", b"\\{s}*"],
            [b"SORT", b"{s}l", b"BY", b"nosort"],
            [b"SORT", b"{s}l", b"BY", b"w_*", b"bogus"],
            [b"SORT", b"{s}l", b"bogus", b"BY", b"w_*"],
        ):
            diff.check(args)
    finally:
        diff.close()


def test_sort_of_a_set_in_a_script_is_sorted_as_in_redis(redis_port):
    diff = Differential(redis_port)
    try:
        diff.check([b"SADD", b"{s}set", b"b", b"c", b"a", b"10", b"9"])
        script = b"return redis.call('SORT', KEYS[1], 'BY', 'nosort')"
        diff.check([b"EVAL", script, b"1", b"{s}set"])
        diff.check([b"EVAL", script.replace(b"SORT'", b"SORT_RO'"), b"1", b"{s}set"])
    finally:
        diff.close()
