"""Redis's sdssplitargs: how an inline command line ("SET a b" typed into telnet) and a
script's or library's shebang line are cut into arguments."""

from __future__ import annotations

from collections.abc import Callable

# Bytes that end an unquoted argument, and the wider set (isspace) skipped between
# arguments and allowed after a closing quote: \v and \f do not end an argument.
_ARG_END = frozenset(b" \n\r\t\0")
_SPACE = frozenset(b" \n\r\t\v\f")
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = frozenset(b"0123456789abcdefABCDEF")
_BACKSLASH, _DOUBLE, _SINGLE, _X = 92, 34, 39, 120


def split_args(line: bytes) -> list[bytes] | None:
    """sdssplitargs over a C string (the end of `line` and any NUL byte end the input): the
    arguments, empty ones included, or None for unbalanced quotes or a closing quote
    followed by something other than a space."""
    args: list[bytes] = []
    length = len(line)

    def at(index: int) -> int:
        return line[index] if index < length else 0

    index = 0
    while True:
        while at(index) in _SPACE:
            index += 1
        if at(index) == 0:
            return args
        current = bytearray()
        in_double = in_single = False
        while True:
            byte = at(index)
            if in_double:
                if byte == _BACKSLASH and at(index + 1) == _X and _hex_pair(at, index + 2):
                    current.append(int(line[index + 2 : index + 4], 16))
                    index += 3
                elif byte == _BACKSLASH and at(index + 1):
                    index += 1
                    current.append(_ESCAPES.get(line[index], line[index]))
                elif byte == _DOUBLE:
                    if at(index + 1) and at(index + 1) not in _SPACE:
                        return None
                    args.append(bytes(current))
                    index += 1
                    break
                elif byte == 0:
                    return None
                else:
                    current.append(byte)
            elif in_single:
                if byte == _BACKSLASH and at(index + 1) == _SINGLE:
                    index += 1
                    current.append(_SINGLE)
                elif byte == _SINGLE:
                    if at(index + 1) and at(index + 1) not in _SPACE:
                        return None
                    args.append(bytes(current))
                    index += 1
                    break
                elif byte == 0:
                    return None
                else:
                    current.append(byte)
            elif byte in _ARG_END:
                args.append(bytes(current))
                break
            elif byte == _DOUBLE:
                in_double = True
            elif byte == _SINGLE:
                in_single = True
            else:
                current.append(byte)
            index += 1


def _hex_pair(at: Callable[[int], int], index: int) -> bool:
    return at(index) in _HEX and at(index + 1) in _HEX
