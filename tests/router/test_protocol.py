"""The request parser: commands out of any fragmentation, inline commands, every limit and
protocol error with Redis's text, and the fast (hiredis) path agreeing with the exact one."""

from __future__ import annotations

import os
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.config import Limits
from router.protocol import ProtocolError, RequestParser, expected_dollar


def pack(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def drain(parser: RequestParser) -> list:
    out: list = []
    while True:
        item = parser.next_command()
        if item is None:
            return out
        out.append(item)
        if isinstance(item, ProtocolError):
            return out


def parse_all(data: bytes, **kwargs) -> list:
    parser = RequestParser(kwargs.pop("limits", None), **kwargs)
    parser.feed(data)
    return drain(parser)


def parse_bytewise(data: bytes, **kwargs) -> list:
    parser = RequestParser(kwargs.pop("limits", None), **kwargs)
    out = []
    for index in range(len(data)):
        parser.feed(data[index : index + 1])
        out.extend(drain(parser))
        if out and isinstance(out[-1], ProtocolError):
            break
    return out


def error(text: str) -> ProtocolError:
    return ProtocolError(b"ERR Protocol error: " + text.encode())


STREAM = (
    pack(b"SET", b"key", b"va\r\nlue")
    + b"PING\r\n"
    + pack(b"GET", b"key")
    + b"*0\r\n"
    + b"*-1\r\n"
    + b"\r\n"
    + b"ECHO \"a b\" 'c'\n"
    + pack(b"")
    + pack(b"MSET", *[b"k%d" % i for i in range(20)])
)
EXPECTED = [
    [b"SET", b"key", b"va\r\nlue"],
    [b"PING"],
    [b"GET", b"key"],
    [b"ECHO", b"a b", b"c"],
    [b""],
    [b"MSET", *[b"k%d" % i for i in range(20)]],
]


def test_whole_stream():
    assert parse_all(STREAM) == EXPECTED


def test_every_byte_boundary():
    assert parse_bytewise(STREAM) == EXPECTED
    for cut in range(1, len(STREAM)):
        parser = RequestParser()
        parser.feed(STREAM[:cut])
        first = drain(parser)
        parser.feed(STREAM[cut:])
        assert first + drain(parser) == EXPECTED, f"cut at {cut}"


def test_exact_path_every_byte_boundary():
    assert parse_bytewise(STREAM, use_hiredis=False) == EXPECTED
    assert parse_all(STREAM, use_hiredis=False) == EXPECTED


def test_large_argument_in_many_reads_is_complete():
    value = bytes(range(256)) * 4000
    data = pack(b"SET", b"k", value) + pack(b"GET", b"k")
    parser = RequestParser()
    out = []
    for start in range(0, len(data), 4096):
        parser.feed(data[start : start + 4096])
        out.extend(drain(parser))
    assert out == [[b"SET", b"k", value], [b"GET", b"k"]]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"*2147483648\r\n", error("invalid multibulk length")),
        (b"*01\r\n", error("invalid multibulk length")),
        (b"*+1\r\n", error("invalid multibulk length")),
        (b"* 1\r\n", error("invalid multibulk length")),
        (b"*1x\r\n", error("invalid multibulk length")),
        (b"*1\r\n$-1\r\n", error("invalid bulk length")),
        (b"*1\r\n$536870913\r\n", error("invalid bulk length")),
        (b"*1\r\n$04\r\nPING\r\n", error("invalid bulk length")),
        (b"*1\r\n$4x\r\n", error("invalid bulk length")),
        (b"*1\r\n:5\r\n", error("expected '$', got ':'")),
        (b"*1\r\n*1\r\n$1\r\na\r\n", error("expected '$', got '*'")),
        (b"*1\r\n+PING\r\n", error("expected '$', got '+'")),
        (b'ECHO "a\r\n', error("unbalanced quotes in request")),
        (b'ECHO "a"b\r\n', error("unbalanced quotes in request")),
        (b"X" * 70000, error("too big inline request")),
        (b"*" + b"1" * 70000, error("too big mbulk count string")),
        (b"*1\r\n" + b"$" + b"1" * 70000, error("too big bulk count string")),
    ],
)
def test_protocol_errors(data, expected):
    for use_hiredis in (True, False):
        assert parse_all(data, use_hiredis=use_hiredis)[-1] == expected
    assert parse_bytewise(data[:200] if len(data) < 1000 else data)[-1] == expected


def test_commands_before_an_error_come_out_first():
    data = pack(b"PING") + b"*1\r\nx\r\n" + pack(b"PING")
    assert parse_all(data) == [[b"PING"], error("expected '$', got 'x'")]


def test_error_is_final():
    parser = RequestParser()
    parser.feed(b"*1\r\n:1\r\n")
    first = parser.next_command()
    parser.feed(pack(b"PING"))
    assert parser.next_command() == first


def test_redis_tolerances():
    # Redis reads the line up to '\r' and skips one byte after it, whatever it is.
    assert parse_all(b"*1\rX$4\rXPING\rX") == [[b"PING"]]
    assert parse_all(b"  \r\nPING\n") == [[b"PING"]]
    # A header at Redis's own maximum is accepted (then waits) once the limit allows it.
    assert parse_all(b"*2147483647\r\n", limits=Limits(max_args=2**31 - 1)) == []
    assert parse_all(b"*2147483647\r\n") == [error("invalid multibulk length")]


def test_configured_limits():
    limits = Limits(max_args=3, max_bulk_len=5, max_inline=10)
    assert parse_all(pack(b"a", b"b", b"c"), limits=limits) == [[b"a", b"b", b"c"]]
    assert parse_all(pack(b"a", b"b", b"c", b"d"), limits=limits) == [
        error("invalid multibulk length")
    ]
    assert parse_all(pack(b"12345"), limits=limits) == [[b"12345"]]
    assert parse_all(pack(b"123456"), limits=limits) == [error("invalid bulk length")]
    assert parse_all(b"PING 123456", limits=limits) == [error("too big inline request")]


def test_unauthenticated_limits():
    assert parse_all(b"*11\r\n", authenticated=False) == [error("unauthenticated multibulk length")]
    assert parse_all(b"*10\r\n", authenticated=False) == []
    assert parse_all(b"*1\r\n$16385\r\n", authenticated=False) == [
        error("unauthenticated bulk length")
    ]
    assert parse_all(b"*1\r\n$16384\r\n", authenticated=False) == []
    # Beyond INT_MAX it is the plain error, as in Redis.
    assert parse_all(b"*2147483648\r\n", authenticated=False) == [error("invalid multibulk length")]


def test_limits_follow_authentication_between_commands():
    parser = RequestParser(authenticated=False)
    parser.feed(b"AUTH pw\r\n" + pack(*[b"x"] * 11))
    assert parser.next_command() == [b"AUTH", b"pw"]
    parser.authenticated = True
    assert parser.next_command() == [b"x"] * 11


def test_query_buffer_limit_closes_silently():
    limits = Limits(max_query_buffer=1000)
    parser = RequestParser(limits)
    parser.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n")
    assert parser.next_command() is None
    parser.feed(b"x" * 2000)
    assert parser.next_command() == ProtocolError(None)


@pytest.mark.parametrize("header", [b"*2147483647\r\n", b"*1\r\n$536870912\r\n"])
def test_huge_declared_lengths_allocate_nothing(header):
    tracemalloc.start()
    try:
        parser = RequestParser(Limits(max_args=2**31 - 1))
        parser.feed(header)
        assert parser.next_command() is None
        parser.feed(b"$3\r\nabc\r\n" if header.startswith(b"*2") else b"abc")
        assert parser.next_command() is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_ordinary_traffic_takes_the_fast_path():
    parser = RequestParser()
    parser.feed(pack(b"SET", b"k", b"v" * 100) * 3)
    assert parser.on_fast_path
    assert drain(parser) == [[b"SET", b"k", b"v" * 100]] * 3
    parser.feed(b"PING\r\n")  # inline: the exact path reads it
    assert drain(parser) == [[b"PING"]]
    assert not parser.on_fast_path
    parser.feed(pack(b"GET", b"k"))  # back on the fast path once idle
    assert parser.on_fast_path
    assert drain(parser) == [[b"GET", b"k"]]
    parser.feed(pack(b"SET", b"k", b"v" * 20000))  # a big argument: exact path
    assert not parser.on_fast_path
    assert drain(parser) == [[b"SET", b"k", b"v" * 20000]]
    assert not RequestParser(authenticated=False).on_fast_path


@pytest.mark.parametrize(
    "reads",
    [
        [pack(b"PING") + b"*2000000000\r\n"],  # after a newline inside the read
        [pack(b"PING") + b"*2\r\n%5000\r\n"],  # nested
        [pack(b"PING") + b"*1\r\n$100000\r\n"],
        [pack(b"PING"), b"*12345\r\n"],  # at the start of a read
        [pack(b"PING") + b"*12", b"345\r\n"],  # split across reads
        [pack(b"PING") + b"*1\r", b"\n$12345\r\n"],
    ],
)
def test_risky_headers_never_reach_hiredis(reads):
    """Where hiredis would preallocate (aggregates of 1000 and more) or wait (bulks of
    10000 bytes and more), the read goes to the exact path."""
    parser = RequestParser()
    for data in reads:
        parser.feed(data)
    assert not parser.on_fast_path
    assert parser.next_command() == [b"PING"]


@pytest.mark.parametrize("element", [b"+abc\r\n", b"=7\r\ntxt:abc\r\n", b"(123\r\n"])
@pytest.mark.parametrize("split", [None, 0, 1])
def test_strings_of_other_types_get_redis_error(element, split):
    """hiredis decodes a simple, verbatim or big-number string to bytes like a bulk string;
    Redis refuses them. Whether the line is inside a read or starts one, the answer is
    Redis's error, after the commands before it."""
    data = pack(b"PING") + b"*2\r\n$3\r\nGET\r\n" + element
    reads = (
        [data] if split is None else [data[: -len(element) + split], data[-len(element) + split :]]
    )
    parser = RequestParser()
    got = []
    for read in reads:
        parser.feed(read)
        got += drain(parser)
    assert got == [[b"PING"], expected_dollar(element[0])]


def test_values_that_look_like_other_strings_are_checked_not_refused():
    commands = [[b"SET", b"k", b"+1 555"], [b"SET", b"(x", b"=y"], [b"GET", b"k"]]
    parser = RequestParser()
    parser.feed(b"".join(pack(*command) for command in commands))
    assert parser.on_fast_path
    assert drain(parser) == commands


def test_digits_inside_values_keep_the_fast_path():
    parser = RequestParser()
    parser.feed(pack(b"SET", b"key:000000012345", b"99999999") + pack(b"GET", b"x$12345"))
    assert parser.on_fast_path
    assert drain(parser) == [[b"SET", b"key:000000012345", b"99999999"], [b"GET", b"x$12345"]]


@pytest.mark.parametrize("use_hiredis", [True, False])
def test_backlog_of_reads_then_drain(use_hiredis):
    commands = [[b"SET", b"key:%d" % i, b"v" * (i % 50)] for i in range(1000)]
    data = b"".join(pack(*command) for command in commands)
    parser = RequestParser(use_hiredis=use_hiredis)
    parser.feed(data[:100])
    got = [parser.next_command()]
    for start in range(100, len(data), 37):
        parser.feed(data[start : start + 37])
    assert parser.buffered == len(data) - len(pack(*commands[0]))
    got += drain(parser)
    assert got == commands
    assert parser.buffered == 0


def test_buffered_counts_unconsumed_bytes():
    parser = RequestParser()
    parser.feed(pack(b"PING") + b"*1\r\n$4\r\nPI")
    assert parser.next_command() == [b"PING"]
    assert parser.next_command() is None
    assert parser.buffered == len(b"*1\r\n$4\r\nPI")


# ---------------------------------------------------------------------- fast == exact

_pieces = st.one_of(
    st.lists(st.binary(max_size=12), min_size=1, max_size=4).map(lambda a: pack(*a)),
    st.sampled_from(
        [
            b"PING\r\n",
            b'ECHO "x y"\r\n',
            b"*0\r\n",
            b"*-1\r\n",
            b"\r\n",
            b"*1\r\n:1\r\n",
            b"*1\r\n+OK\r\n",
            b"*1\r\n$03\r\nabc\r\n",
            b"*2\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n",
            b"*99999\r\n",
            b"*1234\r\n",
            b"*2\r\n*999\r\n",
            b"*1\r\n$12345\r\n",
            b"*1\r\n$3\r\nabcXY",
            b"%1\r\n$1\r\na\r\n$1\r\nb\r\n",
            b"*1\r\n_\r\n",
            b"*1\r\n$-1\r\n",
            b"*2\r\n$3\r\nGET\r\n$5\r\n$1234\r\n",
            b"*1\r",
            b"\n",
            b"$",
            b"*",
        ]
    ),
    st.binary(max_size=10),
)


@settings(max_examples=int(os.environ.get("PARSER_EXAMPLES", "400")), deadline=None)
@given(
    pieces=st.lists(_pieces, min_size=1, max_size=8),
    cuts=st.lists(st.integers(1, 40), max_size=10),
)
def test_fast_path_agrees_with_exact_path(pieces, cuts):
    data = b"".join(pieces)
    fast = RequestParser()
    exact = RequestParser(use_hiredis=False)
    results: dict[int, list] = {id(fast): [], id(exact): []}
    position = 0
    for size in [*cuts, len(data)]:
        chunk = data[position : position + size]
        position += size
        for parser in (fast, exact):
            got = results[id(parser)]
            if got and isinstance(got[-1], ProtocolError):
                continue
            parser.feed(chunk)
            got.extend(drain(parser))
        if position >= len(data):
            break
    assert results[id(fast)] == results[id(exact)]


def test_query_buffer_limit_holds_while_a_long_argument_arrives_in_pieces():
    parser = RequestParser(Limits(max_query_buffer=1000))
    parser.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n")
    assert parser.next_command() is None
    parser.feed(b"x" * 600)
    assert parser.next_command() is None  # 600 bytes buffered: under the limit
    parser.feed(b"x" * 600)
    assert parser.next_command() == ProtocolError(None)
