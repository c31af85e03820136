"""Which arguments Redis hides as "(redacted)" in SLOWLOG and MONITOR
(redactClientCommandArgument): passwords and ACL rules. One rule for both outputs."""

from __future__ import annotations

from proto.redis_config import lookup

# The names of the commands that hide arguments, by length: most commands are of none of
# these lengths, and a length test is what the hot path can afford.
REDACTING_LENGTHS = frozenset(
    len(name) for name in (b"auth", b"hello", b"config", b"acl", b"migrate")
)


def redacted_positions(args: list[bytes]) -> list[int]:
    """The indexes of the arguments Redis shows as "(redacted)"."""
    if not args or len(args[0]) not in REDACTING_LENGTHS:
        return []
    name = args[0].lower()
    if name == b"auth":
        return list(range(1, len(args)))
    hidden: list[int] = []
    if name == b"hello":
        index = 2
        while index < len(args):
            option = args[index].lower()
            if option == b"auth" and index + 2 < len(args):
                hidden += [index + 1, index + 2]
                index += 3
            elif option == b"setname" and index + 1 < len(args):
                index += 2
            else:
                break
    elif name == b"migrate":
        for index in range(6, len(args)):
            option = args[index].lower()
            if option == b"auth" and index + 1 < len(args):
                hidden.append(index + 1)
            elif option == b"auth2" and index + 2 < len(args):
                hidden += [index + 1, index + 2]
    elif name == b"acl" and len(args) > 2 and args[1].lower() == b"setuser":
        # aclCommand hides the user and every rule (passwords among them).
        hidden = list(range(2, len(args)))
    elif name == b"config" and len(args) > 2 and args[1].lower() == b"set":
        for position in range(2, len(args) - 1, 2):
            parameter = lookup(args[position].decode("latin-1"))
            if parameter is not None and parameter.sensitive:
                hidden.append(position + 1)
    return hidden


def redacted(args: list[bytes], mask: bytes) -> list[bytes]:
    """args with the hidden ones replaced by mask (args itself when none is hidden)."""
    positions = redacted_positions(args)
    if not positions:
        return args
    out = list(args)
    for position in positions:
        out[position] = mask
    return out
