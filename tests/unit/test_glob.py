"""Redis's glob matching: edge cases, the regex fast path, and Redis itself as the oracle."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto.glob import compile_pattern, matches_all, stringmatch, tokenize
from tests.differential.harness import RawRedis


def reference_match(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """util.c stringmatchlen transliterated line by line (pointers become positions, the
    C string's terminating NUL is `at` past the end), as an oracle for the compiled form."""

    def at(text: bytes, index: int) -> int:
        return text[index] if index < len(text) else 0

    def lower(char: int) -> int:
        return char + 32 if 65 <= char <= 90 else char

    def signed(char: int) -> int:
        return char - 256 if char >= 128 else char

    skip_longer = [False]

    def impl(p: int, s: int) -> bool:
        plen, slen = len(pattern) - p, len(string) - s
        while plen and slen:
            char = pattern[p]
            if char == ord("*"):
                while plen and at(pattern, p + 1) == ord("*"):
                    p, plen = p + 1, plen - 1
                if plen == 1:
                    return True
                while slen:
                    if impl(p + 1, s):
                        return True
                    if skip_longer[0]:
                        return False
                    s, slen = s + 1, slen - 1
                skip_longer[0] = True
                return False
            if char == ord("?"):
                s, slen = s + 1, slen - 1
            elif char == ord("["):
                p, plen = p + 1, plen - 1
                negate = at(pattern, p) == ord("^")
                if negate:
                    p, plen = p + 1, plen - 1
                matched = False
                while True:
                    if at(pattern, p) == ord("\\") and plen >= 2:
                        p, plen = p + 1, plen - 1
                        if pattern[p] == string[s]:
                            matched = True
                    elif at(pattern, p) == ord("]"):
                        break
                    elif plen == 0:
                        p, plen = p - 1, plen + 1
                        break
                    elif plen >= 3 and pattern[p + 1] == ord("-"):
                        start, end, c = (
                            signed(pattern[p]),
                            signed(pattern[p + 2]),
                            signed(string[s]),
                        )
                        if start > end:
                            start, end = end, start
                        if nocase:
                            start, end, c = (v if v < 0 else lower(v) for v in (start, end, c))
                        p, plen = p + 2, plen - 2
                        if start <= c <= end:
                            matched = True
                    elif nocase:
                        matched = matched or lower(pattern[p]) == lower(string[s])
                    else:
                        matched = matched or pattern[p] == string[s]
                    p, plen = p + 1, plen - 1
                if negate:
                    matched = not matched
                if not matched:
                    return False
                s, slen = s + 1, slen - 1
            else:
                if char == ord("\\") and plen >= 2:
                    p, plen = p + 1, plen - 1
                wanted, got = pattern[p], string[s]
                if nocase:
                    wanted, got = lower(wanted), lower(got)
                if wanted != got:
                    return False
                s, slen = s + 1, slen - 1
            p, plen = p + 1, plen - 1
            if slen == 0:
                while at(pattern, p) == ord("*"):
                    p, plen = p + 1, plen - 1
                break
        return plen == 0 and slen == 0

    return impl(0, 0)


EDGE_CASES = [
    # (pattern, string, matches) as Redis 7.0's stringmatchlen decides.
    (b"", b"", True),
    (b"*", b"", False),  # KEYS * lists the empty key only through its "*" shortcut
    (b"**", b"", False),
    (b"", b"a", False),
    (b"*", b"anything", True),
    (b"a*", b"a", True),  # trailing stars match the empty rest
    (b"a**", b"a", True),
    (b"?", b"", False),
    (b"?", b"\x00", True),
    (b"a?c", b"abc", True),
    (b"a?c", b"ac", False),
    (b"*b*", b"abc", True),
    (b"*b", b"abc", False),
    (b"h*llo", b"heeeello", True),
    (b"[abc]", b"b", True),
    (b"[abc]", b"d", False),
    (b"[^abc]", b"d", True),
    (b"[^abc]", b"a", False),
    (b"[a-c]", b"b", True),
    (b"[c-a]", b"b", True),  # a range may be written backwards
    (b"[a-c]", b"d", False),
    (b"[abc", b"c", True),  # an unterminated set runs to the end of the pattern
    (b"[abc", b"ca", False),
    (b"[^", b"x", True),  # '[^' alone: the empty set, negated
    (b"[", b"x", False),
    (b"[]", b"]", False),  # ']' right after '[' closes an empty set
    (b"[]a]", b"]a]", False),
    (b"[]a]", b"a]", False),
    (b"[]a]", b"]", False),
    (b"[]]", b"]", False),
    (b"[]]", b"x]", False),
    (b"[a-]", b"^", True),  # the range ']'..'a' (']' taken as the end), set unterminated
    (b"[a-]", b"-", False),
    (b"[a-]x", b"_", True),  # ... so the 'x' joins the set
    (b"[a-]x", b"x", True),
    (b"[a-]x", b"_x", False),
    (b"[\\]]", b"]", True),  # '\]' inside a set is ']'
    (b"[\\-]", b"-", True),
    (b"[\\", b"\\", True),  # a lone trailing backslash in a set is literal
    (b"\\*", b"*", True),
    (b"\\*", b"a", False),
    (b"\\?", b"?", True),
    (b"\\[a]", b"[a]", True),
    (b"a\\", b"a\\", True),  # a trailing backslash is literal
    (b"a\\", b"a", False),
    (b"\\", b"\\", True),
    (b"[a-z]*", b"hello", True),
    (b"[\x01-\xff]", b"a", False),  # bytes are signed: 0xff is -1, so this is -1..1
    (b"[\x01-\xff]", b"\x00", True),
    (b"[\x01-\xff]", b"\xff", True),
    (b"[\x00-\x7f]", b"\x80", False),
    (b"[\x80-\x00]", b"\xff", True),  # 0x80 (-128) .. 0
    (b"[\x80-\x00]", b"\x01", False),
    (b"*[", b"ab", False),
    (b"*[^", b"ab", True),
    (b"a*b*c", b"aXbYc", True),
    (b"a*b*c", b"aXcYb", False),
    (b"*a*a*a*a*a*a*a*a*a*a*b", b"a" * 60, False),
    (b"[*]", b"*", True),
    (b"[?]", b"x", False),
]


@pytest.mark.parametrize(("pattern", "string", "expected"), EDGE_CASES)
def test_edge_cases(pattern, string, expected):
    assert stringmatch(pattern, string) is expected
    assert reference_match(pattern, string) is expected


def test_nocase_folds_ascii_letters_only():
    assert stringmatch(b"HeLLo*", b"hello world", nocase=True)
    assert stringmatch(b"[A-C]x", b"bX", nocase=True)
    assert not stringmatch(b"HeLLo*", b"hello world")
    assert not stringmatch(b"\xc0", b"\xe0", nocase=True)  # not a letter in the C locale
    # Inside a set, an escaped byte is compared exactly even with nocase.
    assert not stringmatch(b"[\\A]", b"a", nocase=True)
    assert stringmatch(b"[A]", b"a", nocase=True)


def test_matches_all_is_only_the_single_star():
    assert matches_all(None)
    assert matches_all(b"*")
    assert not matches_all(b"**")
    assert not matches_all(b"")


def test_backtracking_stays_polynomial():
    # Naive backtracking (or a regular expression with many '.*') takes exponential time on
    # these; the first goes to the interpreter (it has a '['), the second to the fast path.
    for pattern in (b"a*" * 40 + b"[b]", b"a*" * 40 + b"b"):
        assert not stringmatch(pattern, b"a" * 200)
        assert stringmatch(pattern, b"a" * 200 + b"b")


def test_compiled_matchers_are_cached():
    assert compile_pattern(b"user:*") is compile_pattern(b"user:*")


any_pattern = st.lists(st.sampled_from(list(b"aB*?[]^-\\\x00\x80\xff.$(")), max_size=9).map(bytes)
subject = st.lists(st.sampled_from(list(b"aAbB]^-\\[*?\x00\x7f\x80\xff.")), max_size=8).map(bytes)


@settings(max_examples=1000)
@given(pattern=any_pattern, string=subject, nocase=st.booleans())
def test_compiled_matcher_agrees_with_the_transliteration(pattern, string, nocase):
    assert stringmatch(pattern, string, nocase) == reference_match(pattern, string, nocase)


def test_tokens():
    assert tokenize(b"a**?") == [b"\\x61", None, b"."]
    assert tokenize(b"[^") == [b"."]  # the negated empty set: any byte
    assert tokenize(b"[]") == [b"(?!)"]  # the empty set: nothing
    assert tokenize(b"[a-c]\\*", nocase=True) == [b"[\\x41-\\x43\\x61-\\x63]", b"\\x2a"]


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(pattern=any_pattern, string=subject)
def test_agrees_with_redis_keys(redis_port, pattern, string):
    """KEYS on a database holding the one key `string` is Redis's stringmatchlen (after its
    shortcut for the pattern '*')."""
    redis = RawRedis(redis_port)
    try:
        redis.call([b"SELECT", b"9"])
        redis.call([b"FLUSHDB"])
        redis.call([b"SET", string, b"1"])
        listed = redis.call([b"KEYS", pattern]) == [string]
    finally:
        redis.call([b"FLUSHDB"])
        redis.close()
    assert listed == (matches_all(pattern) or stringmatch(pattern, string))
