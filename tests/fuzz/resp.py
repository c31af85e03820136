"""RESP as a hostile client sends it, and a strict reader of what the router answers."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.fuzz.entries import command, rarely

# Commands that would wait for ever (or long) on an empty key or stop the router's answers
# altogether: the fuzzer sends them only with a short timeout, or not at all.
_WAITING = {b"blpop", b"brpop", b"blmove", b"brpoplpush", b"blmpop", b"bzpopmin", b"bzpopmax"}
_WAITING |= {b"bzmpop", b"wait", b"waitaof", b"monitor", b"debug", b"shutdown"}


def _not_waiting(args: list[bytes]) -> bool:
    return not args or args[0].lower() not in _WAITING


def bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def array(args: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(map(bulk, args))


router_command = st.one_of(
    command.filter(_not_waiting),
    st.sampled_from(
        [
            [b"PING"],
            [b"HELLO", b"3"],
            [b"HELLO", b"2"],
            [b"HELLO", b"4"],
            [b"MULTI"],
            [b"EXEC"],
            [b"DISCARD"],
            [b"WATCH", b"k1"],
            [b"UNWATCH"],
            [b"SUBSCRIBE", b"ch"],
            [b"PSUBSCRIBE", b"c*"],
            [b"UNSUBSCRIBE"],
            [b"PUBLISH", b"ch", b"m"],
            [b"CLIENT", b"REPLY", b"OFF"],
            [b"CLIENT", b"REPLY", b"SKIP"],
            [b"CLIENT", b"REPLY", b"ON"],
            [b"CLIENT", b"SETNAME", b"fuzz"],
            [b"CLIENT", b"LIST"],
            [b"CLIENT", b"INFO"],
            [b"CONFIG", b"GET", b"*"],
            [b"INFO"],
            [b"INFO", b"everything"],
            [b"COMMAND", b"COUNT"],
            [b"COMMAND", b"INFO", b"get"],
            [b"COMMAND", b"DOCS", b"set"],
            [b"SELECT", b"1"],
            [b"SELECT", b"0"],
            [b"AUTH", b"x"],
            [b"RESET"],
            [b"READONLY"],
            [b"TIME"],
            [b"ECHO", b"\x00\r\n"],
            [b"DBSIZE"],
            [b"KEYS", b"*"],
            [b"SCAN", b"0"],
            [b"FLUSHALL"],
            [b"QUIT"],
            [b"BLPOP", b"k1", b"0.01"],
            [b"BZPOPMIN", b"k1", b"k2", b"0.01"],
        ]
    ),
)


def _inline_line(args: list[bytes]) -> bytes:
    shown = []
    for arg in args:
        if arg and all(32 < c < 127 and c not in b"\"'\\" for c in arg):
            shown.append(arg)
        else:
            shown.append(b'"' + b"".join(b"\\x%02x" % c for c in arg) + b'"')
    return b" ".join(shown)


inline_frame = st.one_of(
    router_command.map(lambda args: _inline_line(args) + b"\r\n"),
    router_command.map(lambda args: _inline_line(args) + b"\n"),
    st.sampled_from(
        [
            b"\r\n",
            b"\n",
            b"   \r\n",
            b'SET "unbalanced\r\n',
            b"SET 'a\r\n",
            b'ECHO "a"b\r\n',
            b'ECHO "\\x4"\r\n',
            b'ECHO "\\xzz\\n\\t\\\\"\r\n',
            b"PING" + b" x" * 40_000 + b"\r\n",  # over the inline limit
            b"\x00\x01\x02\r\n",
            b"\r",
        ]
    ),
)
RESP3_VALUES = [
    b"_\r\n",
    b",1.5\r\n",
    b",inf\r\n",
    b"#t\r\n",
    b"#x\r\n",
    b"(12345678901234567890\r\n",
    b"=7\r\ntxt:abc\r\n",
    b"%1\r\n+a\r\n+b\r\n",
    b"~2\r\n:1\r\n:2\r\n",
    b"|1\r\n+a\r\n+b\r\n",
    b">2\r\n+message\r\n+x\r\n",
    b"!5\r\nERR x\r\n",
    b":5\r\n",
    b"+OK\r\n",
    b"-ERR no\r\n",
]
malformed_frame = st.one_of(
    st.sampled_from(
        [
            b"*-1\r\n",
            b"*0\r\n",
            b"*-5\r\n",
            b"*1048577\r\n",
            b"*99999999999999999999\r\n",
            b"*abc\r\n",
            b"*\r\n",
            b"*1\r\n$-1\r\n",
            b"*1\r\n$-5\r\n",
            b"*1\r\n$536870913\r\n",
            b"*1\r\n$99999999999999999999\r\n",
            b"*1\r\n$x\r\n",
            b"*1\r\n$3\r\nabcd\r\n",
            b"*1\r\n$3\r\nab\r\n",
            b"*1\r\n:5\r\n",
            b"*1\r\n+OK\r\n",
            b"*2\r\n*1\r\n$1\r\na\r\n$1\r\nb\r\n",
            b"*1\r\n*1\r\n*1\r\n$1\r\na\r\n",
            b"*2\r\n$3\r\nGET\r\n_\r\n",
            b"$3\r\nGET\r\n",
            b"*1\r\n$4\r\nPING",
            b"*3\r\n$3\r\nSET\r\n$1\r\n",
            b"*1\r",
            b"*1\n$4\nPING\n",
            b"*\x001\r\n",
        ]
    ),
    st.sampled_from(RESP3_VALUES),
    st.builds(
        lambda values: b"*%d\r\n" % len(values) + b"".join(values),
        st.lists(st.sampled_from(RESP3_VALUES), min_size=1, max_size=3),
    ),
    st.builds(lambda n: b"*%d\r\n" % n, st.integers(-3, 2**40)),
    st.builds(lambda n: b"*1\r\n$%d\r\n" % n, st.integers(-3, 2**40)),
    st.binary(max_size=30),
)


@st.composite
def client_stream(draw: st.DrawFn) -> list[bytes]:
    """What one connection sends, split into the chunks it sends them in."""
    frames = draw(
        st.lists(st.one_of(router_command.map(array), inline_frame), min_size=0, max_size=8)
    )
    for _ in range(draw(st.integers(0, 2))):
        frames.insert(draw(st.integers(0, len(frames))), draw(malformed_frame))
    data = b"".join(frames) or b"\r\n"
    if rarely(draw, 4) and len(data) > 1:
        cuts = sorted(draw(st.lists(st.integers(1, len(data) - 1), max_size=4, unique=True)))
        return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return [data]


# ------------------------------------------------------------------ reading replies


class MalformedReply(AssertionError):
    pass


def read_frames(data: bytes) -> list[bytes]:
    """Split a reply stream into its frames (RESP2 and RESP3), each as the bytes it was;
    MalformedReply unless the stream is a whole number of well-formed frames."""
    frames = []
    position = 0
    while position < len(data):
        end = _frame_end(data, position)
        frames.append(data[position:end])
        position = end
    return frames


def _line(data: bytes, position: int) -> tuple[bytes, int]:
    end = data.find(b"\r\n", position)
    if end < 0:
        raise MalformedReply(f"unterminated line at {position}: {data[position : position + 40]!r}")
    return data[position:end], end + 2


def _frame_end(data: bytes, position: int) -> int:
    kind = data[position : position + 1]
    line, after = _line(data, position + 1)
    if kind in (b"+", b"-"):
        if b"\r" in line or b"\n" in line:
            raise MalformedReply(f"line break inside a simple reply: {line!r}")
        return after
    if kind in (b":", b"("):
        _number(line)
        return after
    if kind == b",":
        float(line.decode()) if line not in (b"inf", b"-inf", b"nan") else None
        return after
    if kind == b"#":
        if line not in (b"t", b"f"):
            raise MalformedReply(f"bad boolean {line!r}")
        return after
    if kind == b"_":
        if line:
            raise MalformedReply("null with a payload")
        return after
    if kind in (b"$", b"!", b"="):
        length = _number(line)
        if length == -1 and kind == b"$":
            return after
        if length < 0:
            raise MalformedReply(f"negative length {length}")
        end = after + length
        if data[end : end + 2] != b"\r\n":
            raise MalformedReply(f"bulk of {length} bytes not followed by CRLF")
        return end + 2
    if kind in (b"*", b"~", b">", b"%", b"|"):
        count = _number(line)
        if count == -1 and kind == b"*":
            return after
        if count < 0:
            raise MalformedReply(f"negative count {count}")
        elements = count * 2 if kind in (b"%", b"|") else count
        position = after
        for _ in range(elements):
            if position >= len(data):
                raise MalformedReply("aggregate cut short")
            position = _frame_end(data, position)
        if kind == b"|":  # attributes precede the value they describe
            if position >= len(data):
                raise MalformedReply("attribute without its value")
            position = _frame_end(data, position)
        return position
    raise MalformedReply(f"unknown reply type {kind!r} at {position}")


def _number(line: bytes) -> int:
    try:
        return int(line.decode("ascii"))
    except ValueError:
        raise MalformedReply(f"not a number: {line!r}") from None
