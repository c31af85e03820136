"""Redis's glob matching (util.c stringmatchlen) for CONFIG GET and COMMAND LIST patterns:
`*`, `?`, `[abc]`, `[^a-z]`, and `\\` escapes."""

from __future__ import annotations


def glob_match(pattern: bytes, text: bytes, nocase: bool = False) -> bool:
    if nocase:
        pattern, text = pattern.lower(), text.lower()
    return _match(pattern, 0, text, 0)


def _match(pattern: bytes, p: int, text: bytes, t: int) -> bool:
    plen, tlen = len(pattern), len(text)
    while p < plen and t < tlen:
        char = pattern[p]
        if char == 42:  # '*'
            while p + 1 < plen and pattern[p + 1] == 42:
                p += 1
            if p + 1 == plen:
                return True
            return any(_match(pattern, p + 1, text, start) for start in range(t, tlen))
        if char == 63:  # '?'
            t += 1
        elif char == 91:  # '['
            p, matched = _match_class(pattern, p + 1, text[t])
            if not matched:
                return False
            t += 1
        else:
            if char == 92 and p + 1 < plen:  # '\\' escapes the next byte
                p += 1
            if pattern[p] != text[t]:
                return False
            t += 1
        p += 1
        if t == tlen:
            while p < plen and pattern[p] == 42:
                p += 1
            break
    return p == plen and t == tlen


def _match_class(pattern: bytes, p: int, char: int) -> tuple[int, bool]:
    """Match `char` against a [...] class starting after '['; returns the index of the
    closing ']' (or of the last byte when unterminated) and whether it matched."""
    plen = len(pattern)
    negate = p < plen and pattern[p] == 94  # '^'
    if negate:
        p += 1
    matched = False
    while True:
        if p >= plen:
            p -= 1
            break
        current = pattern[p]
        if current == 92 and p + 1 < plen:
            p += 1
            matched |= pattern[p] == char
        elif current == 93:  # ']'
            break
        elif p + 2 < plen and pattern[p + 1] == 45:  # a range a-z
            low, high = sorted((current, pattern[p + 2]))
            matched |= low <= char <= high
            p += 2
        else:
            matched |= current == char
        p += 1
    return p, matched != negate
