"""Redis's glob matching (util.c stringmatchlen, Redis 7.0), byte for byte.

Used by KEYS, SCAN MATCH and HSCAN/SSCAN/ZSCAN MATCH. The rules, including the odd ones
that clients can observe:

- `*` matches any run of bytes, `?` one byte, `\\x` the byte x (a trailing `\\` is
  literal), `[...]` a set, `[^...]` its complement, `a-z` a range inside a set (the ends
  may be given in either order; bytes compare as *signed* chars, so 0x80-0xff sort
  before 0x00), `\\x` inside a set is x (compared exactly, even when ignoring case).
- An unterminated set runs to the end of the pattern (`[abc` is the set {a, b, c}) and
  `[^` alone matches any byte. `]` right after `[` closes an empty set.
- A range end is taken literally even if it is `]`: `[a-]` is the range `]`..`a` and
  leaves the set unterminated.
- The empty string matches only the empty pattern: `*` does not match it (KEYS and SCAN
  special-case the pattern `*` before calling the matcher; see `matches_all`).

How: Redis walks the pattern and the string together, but what each pattern element
accepts never depends on the string, so a pattern is first cut into stars and one-byte
tests (a set becomes the exact set of the 256 byte values it accepts). Between two stars
the tests have a fixed width, so the first piece must match at the start, the last at
the end and each middle one at its leftmost place after the previous one; each piece is a
compiled regular expression without repetition, which keeps matching linear in the
number of pieces (Redis's own backtracking is bounded the same way, by skipLongerMatches).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

Matcher = Callable[[bytes], bool]
STAR = None  # a star among the one-byte tests of a tokenized pattern


def stringmatch(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """Whether `string` matches the glob `pattern`, as Redis's stringmatchlen."""
    return compile_pattern(pattern, nocase)(string)


def matches_all(pattern: bytes | None) -> bool:
    """True when a MATCH pattern filters nothing: absent or exactly `*` (Redis skips the
    matcher then, which is why the empty key is listed by KEYS * but not by KEYS **)."""
    return pattern is None or pattern == b"*"


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: bytes, nocase: bool = False) -> Matcher:
    """A reusable matcher for `pattern` (cached: SCAN calls repeat the same pattern)."""
    pieces: list[list[bytes]] = [[]]
    for token in tokenize(pattern, nocase):
        if token is STAR:
            pieces.append([])
        else:
            pieces[-1].append(token)
    regexes = [re.compile(b"".join(piece), re.DOTALL) for piece in pieces]
    if len(regexes) == 1:
        whole = regexes[0]
        return lambda string: whole.fullmatch(string) is not None
    first, last = regexes[0], regexes[-1]
    head, tail = len(pieces[0]), len(pieces[-1])
    middle = [regex for piece, regex in zip(pieces[1:-1], regexes[1:-1]) if piece]

    def match(string: bytes) -> bool:
        size = len(string)
        if size == 0 or size < head + tail:
            return False
        if head and first.match(string) is None:
            return False
        if tail and last.fullmatch(string, size - tail) is None:
            return False
        position = head
        for regex in middle:
            found = regex.search(string, position, size - tail)
            if found is None:
                return False
            position = found.end()
        return True

    return match


def tokenize(pattern: bytes, nocase: bool = False) -> list[bytes | None]:
    """The pattern as STAR and one-byte tests (regular-expression fragments that match
    exactly one byte), following Redis's walk through the pattern."""
    tokens: list[bytes | None] = []
    size = len(pattern)
    p = 0
    while p < size:
        char = pattern[p]
        if char == 0x2A:  # '*'
            if not tokens or tokens[-1] is not STAR:
                tokens.append(STAR)
        elif char == 0x3F:  # '?'
            tokens.append(b".")
        elif char == 0x5B:  # '['
            p, accepted = _set_at(pattern, p + 1, nocase)
            tokens.append(_byte_class(accepted))
        else:
            if char == 0x5C and size - p >= 2:  # '\\' escapes the next byte
                p += 1
                char = pattern[p]
            same = {char, _lower(char), _upper(char)} if nocase else {char}
            tokens.append(_byte_class(same))
        p += 1
    return tokens


def _set_at(pattern: bytes, p: int, nocase: bool) -> tuple[int, set[int]]:
    """The set that starts at pattern[p] (just after '['): the position of its last byte
    (its ']', or the pattern's last byte when unterminated) and the byte values it
    accepts. Follows Redis's loop over a set, where reading at the end of the pattern
    yields 0 (the NUL that ends its C strings)."""
    size = len(pattern)

    def at(index: int) -> int:
        return pattern[index] if index < size else 0

    negate = at(p) == 0x5E  # '^'
    if negate:
        p += 1
    accepted: set[int] = set()
    while True:
        left = size - p
        if at(p) == 0x5C and left >= 2:  # '\\': the next byte, compared exactly
            p += 1
            accepted.add(pattern[p])
        elif at(p) == 0x5D:  # ']'
            break
        elif left == 0:
            p -= 1
            break
        elif left >= 3 and pattern[p + 1] == 0x2D:  # 'a-z'
            low, high = _signed(pattern[p]), _signed(pattern[p + 2])
            if low > high:
                low, high = high, low
            keys = _FOLDED_KEYS if nocase else _SIGNED_KEYS
            if nocase:
                low, high = _lower_signed(low), _lower_signed(high)
            accepted.update(byte for byte in range(256) if low <= keys[byte] <= high)
            p += 2
        else:
            char = pattern[p]
            accepted.update({char, _lower(char), _upper(char)} if nocase else {char})
        p += 1
    if negate:
        accepted = set(range(256)) - accepted
    return p, accepted


def _byte_class(accepted: set[int]) -> bytes:
    """A regular-expression fragment matching exactly the bytes in `accepted`."""
    if len(accepted) == 256:
        return b"."
    if not accepted:
        return b"(?!)"
    if len(accepted) == 1:
        return b"\\x%02x" % next(iter(accepted))
    ranges = []
    values = sorted(accepted)
    low = previous = values[0]
    for value in values[1:]:
        if value != previous + 1:
            ranges.append(b"\\x%02x-\\x%02x" % (low, previous))
            low = value
        previous = value
    ranges.append(b"\\x%02x-\\x%02x" % (low, previous))
    return b"[" + b"".join(ranges) + b"]"


def _signed(byte: int) -> int:
    """A byte as C's (signed) char: Redis compares range ends that way."""
    return byte - 256 if byte >= 128 else byte


def _lower(byte: int) -> int:
    """tolower() in the C locale: only ASCII letters change."""
    return byte + 32 if 65 <= byte <= 90 else byte


def _upper(byte: int) -> int:
    return byte - 32 if 97 <= byte <= 122 else byte


def _lower_signed(value: int) -> int:
    return _lower(value) if value >= 0 else value


# What a range compares for each byte value: the signed char, lowered when ignoring case.
_SIGNED_KEYS = [_signed(byte) for byte in range(256)]
_FOLDED_KEYS = [_lower_signed(_signed(byte)) for byte in range(256)]
