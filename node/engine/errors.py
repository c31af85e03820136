"""How a command fails: CommandError, raised inside a command, becomes its error reply
(Redis's texts are in proto.errors); an unexpected exception becomes `internal_error`;
LOCAL_FAILURES never become replies."""

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


def check_random_draws(count: int, limit: int) -> None:
    """SRANDMEMBER, HRANDFIELD and ZRANDMEMBER with a negative count draw |count| elements
    with repetition, however small the collection: Redis builds that reply, a node must not
    (one such read would exhaust its memory, and the router's retry the next leader's)."""
    if -count > limit:
        raise CommandError(
            b"ERR count would draw %d elements with repetition; the limit is %d "
            b"(max-random-draws)" % (-count, limit)
        )


def internal_error(command: bytes | str, error: BaseException) -> bytes:
    """The reply to a command that raised unexpectedly: the command and the exception's
    type only (its message may hold addresses or other text that differs between
    processes), printable and without line breaks, so that every replica sends the same
    bytes and the reply stays one RESP line."""
    name = command.encode() if isinstance(command, str) else bytes(command[:64])
    shown = bytes(c if 32 < c < 127 and c != 39 else 63 for c in name).lower()  # 63: "?"
    return b"ERR internal error in '%s': %s" % (shown, type(error).__name__.encode())
