"""Redis's error reply texts (without the leading '-'), as Redis 7.0 words them: the ones
the router and the engine share, the ones several commands share, and those of command
resolution (unknown command or subcommand, wrong arity).

A text only one command uses stays beside that command's implementation. The router's
and the engine's own texts, which are not Redis's (an internal error, a limit of this
project), stay in router/errors.py and node/engine/errors.py.
"""

from __future__ import annotations

# ---------------------------------------------------------------------- generic
SYNTAX = b"ERR syntax error"
NOT_INTEGER = b"ERR value is not an integer or out of range"
NOT_FLOAT = b"ERR value is not a valid float"
OUT_OF_RANGE = b"ERR value is out of range"
NOT_POSITIVE = b"ERR value is out of range, must be positive"
COUNT_RANGE = b"ERR value is out of range, value must between %d and %d" % (
    -(2**63 - 1),
    2**63 - 1,
)
COUNT_POSITIVE = b"ERR count should be greater than 0"
OVERFLOW = b"ERR increment or decrement would overflow"
NAN_OR_INFINITY = b"ERR increment would produce NaN or Infinity"
STRING_TOO_LONG = b"ERR string exceeds maximum allowed size (proto-max-bulk-len)"
WRONGTYPE = b"WRONGTYPE Operation against a key holding the wrong kind of value"
NO_SUCH_KEY = b"ERR no such key"
INDEX_OUT_OF_RANGE = b"ERR index out of range"
OOM = b"OOM command not allowed when used memory > 'maxmemory'."
CROSSSLOT = b"CROSSSLOT Keys in request don't hash to the same slot"

# ---------------------------------------------------------------------- arguments
MIN_MAX_NOT_FLOAT = b"ERR min or max is not a float"
MIN_MAX_NOT_STRING = b"ERR min or max not valid string range item"
TIMEOUT_NOT_FLOAT = b"ERR timeout is not a float or out of range"
TIMEOUT_NOT_INTEGER = b"ERR timeout is not an integer or out of range"
TIMEOUT_NEGATIVE = b"ERR timeout is negative"
NUMKEYS_POSITIVE = b"ERR numkeys should be greater than 0"
TOO_MANY_KEYS = b"ERR Number of keys can't be greater than number of args"


def invalid_expire_time(name: bytes) -> bytes:
    """getExpireMillisecondsOrReply's error, naming the command as its table spells it."""
    return b"ERR invalid expire time in '%s' command" % name


# ---------------------------------------------------------------------- connections
NOAUTH = b"NOAUTH Authentication required."
WRONGPASS = b"WRONGPASS invalid username-password pair or user is disabled."
AUTH_NOT_CONFIGURED = (
    b"ERR AUTH <password> called without any password configured for the default user. "
    b"Are you sure your configuration is correct?"
)
HELLO_NOAUTH = (
    b"NOAUTH HELLO must be called with the client already authenticated, otherwise the "
    b"HELLO AUTH <user> <pass> option can be used to authenticate the client and select "
    b"the RESP protocol version at the same time"
)
NOPROTO = b"NOPROTO unsupported protocol version"
PROTOCOL_VERSION_NOT_INTEGER = b"ERR Protocol version is not an integer or out of range"
SELECT_CLUSTER = b"ERR SELECT is not allowed in cluster mode"
SAME_OBJECT = b"ERR source and destination objects are the same"
DB_OUT_OF_RANGE = b"ERR DB index is out of range"
INT_OUT_OF_RANGE = b"ERR value is out of range, value must between -2147483648 and 2147483647"
INVALID_FIRST_DB = b"ERR invalid first DB index"
INVALID_SECOND_DB = b"ERR invalid second DB index"
BAD_CLIENT_NAME = b"ERR Client names cannot contain spaces, newlines or special characters."
MAX_CLIENTS = b"ERR max number of clients reached"
NO_SUCH_CLIENT = b"ERR No such client"
# networking.c clientAcceptHandler (Redis 7.0), to a client that is not on the loopback
# interface of a router with protected mode on and no password.
DENIED_PROTECTED_MODE = (
    b"DENIED Redis is running in protected mode because protected mode is enabled and no "
    b"password is set for the default user. In this mode connections are only accepted from "
    b"the loopback interface. If you want to connect from external computers to Redis you "
    b"may adopt one of the following solutions: 1) Just disable protected mode sending the "
    b"command 'CONFIG SET protected-mode no' from the loopback interface by connecting to "
    b"Redis from the same host the server is running, however MAKE SURE Redis is not "
    b"publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change "
    b"permanent. 2) Alternatively you can just disable the protected mode by editing the "
    b"Redis configuration file, and setting the protected mode option to 'no', and then "
    b"restarting the server. 3) If you started the server manually just for testing, restart "
    b"it with the '--protected-mode no' option. 4) Set up an authentication password for the "
    b"default user. NOTE: You only need to do one of the above things in order for the "
    b"server to start accepting connections from the outside."
)

# ---------------------------------------------------------------------- transactions
MULTI_NESTED = b"ERR MULTI calls can not be nested"
EXEC_WITHOUT_MULTI = b"ERR EXEC without MULTI"
DISCARD_WITHOUT_MULTI = b"ERR DISCARD without MULTI"
WATCH_IN_MULTI = b"ERR WATCH inside MULTI is not allowed"
EXECABORT = b"EXECABORT Transaction discarded because of previous errors."
NOT_ALLOWED_IN_MULTI = b"ERR Command not allowed inside a transaction"  # CMD_NO_MULTI

# ---------------------------------------------------------------------- command resolution


def wrong_arity(name: str) -> bytes:
    return b"ERR wrong number of arguments for '%s' command" % name.encode()


def unknown_command(args: list[bytes]) -> bytes:
    """processCommand's text: the name (up to 128 bytes) and the quoted arguments while
    their text stays under 128 bytes."""
    shown = b""
    for arg in args[1:]:
        if len(shown) >= 128:
            break
        shown += b"'%s' " % arg[: 128 - len(shown)]
    name = args[0][:128] if args else b""
    return b"ERR unknown command '%s', with args beginning with: %s" % (name, shown)


def unknown_subcommand(container: str, sub: bytes) -> bytes:
    """The text for a container command (CLIENT, OBJECT, ...) given an unknown subcommand:
    the subcommand as sent (up to 128 bytes), the container in capitals."""
    return b"ERR unknown subcommand '%s'. Try %s HELP." % (sub[:128], container.upper().encode())


# A shard's answer to a command on a slot it no longer (or not yet) serves, while the slot
# moves between shards (node/slot_entries.py). Routers retry it on the shard the new map
# names; a client that somehow sees it retries, as Redis Cluster's clients do TRYAGAIN.
SLOT_MOVING = b"TRYAGAIN slot moving between shards, try again"
