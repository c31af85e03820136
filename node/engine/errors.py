"""Errors a command raises; the engine turns them into Redis's exact error replies."""

from __future__ import annotations

# Failures of this process's resources, not of the entry being applied: the C stack and
# the recursion limit (RecursionError) or memory (MemoryError) differ between processes, so
# the same command may pass on another replica. They are never turned into replies.
LOCAL_FAILURES = (MemoryError, RecursionError)


class CommandError(Exception):
    """Raised inside a command; `message` is the reply text after '-'."""

    def __init__(self, message: bytes) -> None:
        super().__init__(message)
        self.message = message


WRONGTYPE = b"WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = b"ERR syntax error"
NOT_INTEGER = b"ERR value is not an integer or out of range"
NOT_FLOAT = b"ERR value is not a valid float"
OVERFLOW = b"ERR increment or decrement would overflow"
NO_SUCH_KEY = b"ERR no such key"
INDEX_OUT_OF_RANGE = b"ERR index out of range"
OOM = b"OOM command not allowed when used memory > 'maxmemory'."
MIN_MAX_NOT_FLOAT = b"ERR min or max is not a float"
MIN_MAX_NOT_STRING = b"ERR min or max not valid string range item"
TIMEOUT_NOT_FLOAT = b"ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = b"ERR timeout is negative"
NOT_POSITIVE = b"ERR value is out of range, must be positive"
NUMKEYS_POSITIVE = b"ERR numkeys should be greater than 0"
STRING_TOO_LONG = b"ERR string exceeds maximum allowed size (proto-max-bulk-len)"


def check_random_draws(count: int, limit: int) -> None:
    """SRANDMEMBER, HRANDFIELD and ZRANDMEMBER with a negative count draw |count| elements
    with repetition, however small the collection: Redis builds that reply, a node must not
    (one such read would exhaust its memory, and the router's retry the next leader's)."""
    if -count > limit:
        raise CommandError(
            b"ERR count would draw %d elements with repetition; the limit is %d "
            b"(max-random-draws)" % (-count, limit)
        )


def wrong_arity(name: str) -> bytes:
    return b"ERR wrong number of arguments for '%s' command" % name.encode()


def unknown_command(args: list[bytes]) -> bytes:
    """Redis's text: the name (up to 128 bytes) and the quoted arguments, while their
    text stays under 128 bytes (processCommand in server.c)."""
    shown = b""
    for arg in args[1:]:
        if len(shown) >= 128:
            break
        shown += b"'%s' " % arg[: 128 - len(shown)]
    name = args[0][:128] if args else b""
    return b"ERR unknown command '%s', with args beginning with: %s" % (name, shown)


def unknown_subcommand(container: str, args: list[bytes]) -> bytes:
    sub = args[1][:128].decode("utf-8", "replace") if len(args) > 1 else ""
    return f"ERR unknown subcommand '{sub}'. Try {container.upper()} HELP.".encode()


def internal_error(command: bytes | str, error: BaseException) -> bytes:
    """The reply to a command that raised unexpectedly: the command and the exception's
    type only (its message may hold addresses or other text that differs between
    processes), printable and without line breaks, so that every replica sends the same
    bytes and the reply stays one RESP line."""
    name = command.encode() if isinstance(command, str) else bytes(command[:64])
    shown = bytes(c if 32 < c < 127 and c != 39 else 63 for c in name).lower()  # 63: "?"
    return b"ERR internal error in '%s': %s" % (shown, type(error).__name__.encode())
