"""Redis 7.0's ACL users as data: the rules of ACL SETUSER, how a user is described (ACL
LIST, GETUSER, the ACL file) and what a user may run. Pure and deterministic: the metadata
group applies ACL changes with it on every replica (node/metadata.py), the routers check
every command with it (router/acl_check.py).

Command rules are kept as Redis 7.2 keeps them (its `command_rules`): an ordered list of
`+name`/`-name` items after a base of +@all or -@all, where a new rule removes an earlier
one of the same name; whether a command is allowed is the last rule that covers it. Redis
7.0 describes the same permissions by recomputing them from a bitmap, which can print
redundant rules differently (`+get +get -get` is `-@all -get` here, `-@all` there); the
permissions themselves are the same.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from proto.commands.index import COMMANDS, TABLE
from proto.commands.spec import CommandSpec
from proto.glob import stringmatch

# Redis 7.0's categories, in ACL CAT's order.
CATEGORIES = (
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
)

READ = 1
WRITE = 2
ALL_PERMISSIONS = READ | WRITE

# Bounds that keep one user, and the whole table, small enough to apply at once.
MAX_USERS = 10_000
MAX_RULES_PER_USER = 1_024  # passwords, patterns, command rules and selectors together
MAX_NAME_LEN = 1_024

DEFAULT_USER = b"default"

# ACLSetUserStringError's texts.
UNKNOWN_NAME = "Unknown command or category name in ACL"
SYNTAX = "Syntax error"
KEYS_AFTER_ALL = (
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not "
    "have any effect. Try 'resetkeys' to start with an empty list of patterns"
)
CHANNELS_AFTER_ALL = (
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does "
    "not have any effect. Try 'resetchannels' to start with an empty list of channels"
)
NO_SUCH_PASSWORD = "The password you are trying to remove from the user does not exist"
BAD_HASH = (
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal "
    "characters"
)
FIRST_ARG_OF_SUBCOMMAND = "Allowing first-arg of a subcommand is not supported"
TOO_MANY_RULES = f"A user may hold at most {MAX_RULES_PER_USER} rules"


class AclError(ValueError):
    """A refused change; `text` is Redis's error reply (without '-')."""

    def __init__(self, text: bytes) -> None:
        super().__init__(text.decode("latin-1"))
        self.text = text


class RuleError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def password_hash(password: bytes) -> str:
    return hashlib.sha256(password).hexdigest()


def _all_specs() -> Iterator[CommandSpec]:
    for spec in TABLE.values():
        yield spec
        yield from spec.subcommands.values()


def category_commands(category: str) -> list[str]:
    """The commands (and subcommands, as container|sub) of an ACL category, as ACL CAT
    lists them."""
    wanted = "@" + category
    return [spec.name for spec in _all_specs() if wanted in spec.acl_categories]


def _key_pattern_text(flags: int, pattern: bytes) -> bytes:
    if flags == ALL_PERMISSIONS:
        return b"~" + pattern
    return (b"%R~" if flags == READ else b"%W~") + pattern


@dataclass(slots=True)
class Selector:
    """Commands, keys and channels: a user's root selector or one of its `(...)`."""

    allcommands: bool = False
    rules: list[tuple[bool, str]] = field(default_factory=list)  # (allow, lowercase name)
    allkeys: bool = False
    keys: list[list[Any]] = field(default_factory=list)  # [flags, pattern]
    allchannels: bool = False
    channels: list[bytes] = field(default_factory=list)
    _cache: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def size(self) -> int:
        return len(self.rules) + len(self.keys) + len(self.channels)

    # ------------------------------------------------------------------ rules

    def apply(self, op: bytes) -> None:
        """One rule of a selector (RuleError with ACLSetUserStringError's reason)."""
        self._cache.clear()
        lowered = op.lower()
        if lowered in (b"allcommands", b"+@all"):
            self.allcommands = True
            self.rules.clear()
        elif lowered in (b"nocommands", b"-@all"):
            self.allcommands = False
            self.rules.clear()
        elif lowered == b"allkeys" or op == b"~*":
            self.allkeys = True
            self.keys.clear()
        elif lowered == b"resetkeys":
            self.allkeys = False
            self.keys.clear()
        elif lowered == b"allchannels" or op == b"&*":
            self.allchannels = True
            self.channels.clear()
        elif lowered == b"resetchannels":
            self.allchannels = False
            self.channels.clear()
        elif op[:1] in (b"~", b"%"):
            self._add_key_pattern(op)
        elif op[:1] == b"&":
            if self.allchannels:
                raise RuleError(CHANNELS_AFTER_ALL)
            if op[1:] not in self.channels:
                self.channels.append(op[1:])
        elif op[:1] in (b"+", b"-"):
            self._add_command_rule(op[:1] == b"+", lowered[1:])
        else:
            raise RuleError(SYNTAX)

    def _add_key_pattern(self, op: bytes) -> None:
        if op[:1] == b"~":
            flags, pattern = ALL_PERMISSIONS, op[1:]
        else:
            end = op.find(b"~")
            if end < 0:
                raise RuleError(SYNTAX)
            flags = 0
            for letter in op[1:end].upper():
                if letter == ord("R"):
                    flags |= READ
                elif letter == ord("W"):
                    flags |= WRITE
                else:
                    raise RuleError(SYNTAX)
            if not flags:
                raise RuleError(SYNTAX)
            pattern = op[end + 1 :]
        if self.allkeys:
            raise RuleError(KEYS_AFTER_ALL)
        if flags == ALL_PERMISSIONS and pattern == b"*":
            self.allkeys = True
            self.keys.clear()
            return
        for existing in self.keys:
            if existing[1] == pattern:
                existing[0] |= flags
                return
        self.keys.append([flags, pattern])

    def _add_command_rule(self, allow: bool, name_bytes: bytes) -> None:
        name = name_bytes.decode("utf-8", "replace")
        if name.startswith("@"):
            if name[1:] not in CATEGORIES:
                raise RuleError(UNKNOWN_NAME)
        else:
            container, bar, sub = name.partition("|")
            spec = COMMANDS.lookup(container.encode())
            if spec is None:
                raise RuleError(UNKNOWN_NAME)
            if bar:
                if "|" in sub:
                    raise RuleError(SYNTAX)
                if spec.subcommands:
                    if sub not in spec.subcommands:
                        raise RuleError(UNKNOWN_NAME)
                elif not allow or not sub:
                    raise RuleError(UNKNOWN_NAME)  # a first argument may only be allowed
        # ACLUpdateCommandRules: an earlier rule of this name (or of its subcommands) goes.
        self.rules = [(a, n) for a, n in self.rules if not (n == name or n.startswith(name + "|"))]
        self.rules.append((allow, name))

    # ------------------------------------------------------------------ checks

    def allows_command(self, spec: CommandSpec, args: list[bytes]) -> bool:
        cached = self._cache.get(spec.name)
        if cached is not None:
            return cached
        allowed = self.allcommands
        container = spec.name.split("|", 1)[0]
        categories = spec.acl_categories
        depends_on_args = False
        for allow, name in self.rules:
            if name[0] == "@":
                covers = "@" + name[1:] in categories
            elif name == spec.name or name == container:
                covers = True
            elif name.startswith(container + "|") and not spec.subcommands:
                # +select|0: a first argument of a command without subcommands.
                depends_on_args = True
                covers = name == spec.name or (
                    "|" not in spec.name
                    and len(args) > 1
                    and name[len(container) + 1 :] == args[1].decode("utf-8", "replace").lower()
                )
            else:
                covers = False
            if covers:
                allowed = allow
        if not depends_on_args:
            self._cache[spec.name] = allowed
        return allowed

    def allows_key(self, key: bytes, needed: int) -> bool:
        if self.allkeys:
            return True
        for flags, pattern in self.keys:
            if flags & needed == needed and stringmatch(pattern, key):
                return True
        return False

    def allows_channel(self, channel: bytes, is_pattern: bool) -> bool:
        if self.allchannels:
            return True
        for pattern in self.channels:
            # A pattern subscription must name one of the user's patterns exactly.
            if pattern == channel if is_pattern else stringmatch(pattern, channel):
                return True
        return False

    # ------------------------------------------------------------------ descriptions

    def commands_text(self) -> bytes:
        words = [b"+@all" if self.allcommands else b"-@all"]
        words += [(b"+" if allow else b"-") + name.encode() for allow, name in self.rules]
        return b" ".join(words)

    def keys_text(self) -> bytes:
        if self.allkeys:
            return b"~*"
        return b" ".join(_key_pattern_text(flags, pattern) for flags, pattern in self.keys)

    def channels_text(self) -> bytes:
        if self.allchannels:
            return b"&*"
        return b" ".join(b"&" + channel for channel in self.channels)

    def describe(self) -> bytes:
        """ACLDescribeSelector: keys, channels, commands."""
        parts = []
        if self.allkeys:
            parts.append(b"~*")
        else:
            parts += [_key_pattern_text(flags, pattern) for flags, pattern in self.keys]
        if self.allchannels:
            parts.append(b"&*")
        else:
            parts.append(b"resetchannels")
            parts += [b"&" + channel for channel in self.channels]
        parts.append(self.commands_text())
        return b" ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "allcommands": self.allcommands,
            "rules": [[allow, name] for allow, name in self.rules],
            "allkeys": self.allkeys,
            "keys": [[flags, pattern.decode("latin-1")] for flags, pattern in self.keys],
            "allchannels": self.allchannels,
            "channels": [channel.decode("latin-1") for channel in self.channels],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Selector:
        return cls(
            allcommands=bool(raw["allcommands"]),
            rules=[(bool(allow), str(name)) for allow, name in raw["rules"]],
            allkeys=bool(raw["allkeys"]),
            keys=[[int(flags), str(pattern).encode("latin-1")] for flags, pattern in raw["keys"]],
            allchannels=bool(raw["allchannels"]),
            channels=[str(channel).encode("latin-1") for channel in raw["channels"]],
        )


@dataclass(slots=True)
class User:
    name: bytes
    enabled: bool = False
    nopass: bool = False
    sanitize: str = ""  # "", "sanitize-payload" or "skip-sanitize-payload" (as set)
    passwords: list[str] = field(default_factory=list)  # SHA-256, lowercase hex
    root: Selector = field(default_factory=Selector)
    selectors: list[Selector] = field(default_factory=list)

    def copy(self) -> User:
        return User.from_json(self.to_json())

    def size(self) -> int:
        return (
            len(self.passwords)
            + self.root.size()
            + sum(1 + selector.size() for selector in self.selectors)
        )

    def apply(self, op: bytes) -> None:
        """One rule of ACL SETUSER (RuleError with Redis's reason)."""
        lowered = op.lower()
        if lowered == b"on":
            self.enabled = True
        elif lowered == b"off":
            self.enabled = False
        elif lowered == b"nopass":
            self.nopass = True
            self.passwords.clear()
        elif lowered == b"resetpass":
            self.nopass = False
            self.passwords.clear()
        elif lowered in (b"sanitize-payload", b"skip-sanitize-payload"):
            self.sanitize = lowered.decode()
        elif lowered == b"clearselectors":
            self.selectors.clear()
        elif lowered == b"reset":
            for rule in (b"resetpass", b"resetkeys", b"resetchannels", b"off", b"-@all"):
                self.apply(rule)
            self.selectors.clear()
            self.sanitize = "sanitize-payload"
        elif op[:1] == b">":
            self._add_password(password_hash(op[1:]))
        elif op[:1] == b"#":
            self._add_password(_checked_hash(op[1:]))
        elif op[:1] == b"<":
            self._remove_password(password_hash(op[1:]))
        elif op[:1] == b"!":
            self._remove_password(_checked_hash(op[1:]))
        elif op[:1] == b"(" and op[-1:] == b")":
            selector = Selector()
            for word in split_words(op[1:-1]):
                selector.apply(word)
            self.selectors.append(selector)
        else:
            self.root.apply(op)
        if self.size() > MAX_RULES_PER_USER:
            raise RuleError(TOO_MANY_RULES)

    def _add_password(self, digest: str) -> None:
        self.nopass = False
        if digest not in self.passwords:
            self.passwords.append(digest)

    def _remove_password(self, digest: str) -> None:
        if digest not in self.passwords:
            raise RuleError(NO_SUCH_PASSWORD)
        self.passwords.remove(digest)

    def check_password(self, password: bytes) -> bool:
        """Whether the password opens this user: every stored hash is compared, in time
        that does not depend on where the digests differ (hmac.compare_digest)."""
        if not self.enabled:
            return False
        if self.nopass:
            return True
        digest = password_hash(password).encode()
        found = False
        for stored in self.passwords:
            found |= hmac.compare_digest(stored.encode(), digest)
        return found

    # ------------------------------------------------------------------ checks

    def selectors_in_order(self) -> Iterator[Selector]:
        yield self.root
        yield from self.selectors

    def is_unrestricted(self) -> bool:
        """+@all, all keys and all channels in the root selector: nothing to check."""
        root = self.root
        return root.allcommands and not root.rules and root.allkeys and root.allchannels

    # ------------------------------------------------------------------ descriptions

    def flags(self) -> list[bytes]:
        out = [b"on" if self.enabled else b"off"]
        if self.nopass:
            out.append(b"nopass")
        if self.sanitize:
            out.append(self.sanitize.encode())
        return out

    def describe(self) -> bytes:
        """ACLDescribeUser: ACL LIST's line without `user <name> `."""
        parts = self.flags() + [b"#" + digest.encode() for digest in self.passwords]
        parts.append(self.root.describe())
        text = b" ".join(parts)
        for selector in self.selectors:
            text += b" (" + selector.describe() + b")"
        return text

    def line(self) -> bytes:
        return b"user " + self.name + b" " + self.describe()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name.decode("latin-1"),
            "enabled": self.enabled,
            "nopass": self.nopass,
            "sanitize": self.sanitize,
            "passwords": list(self.passwords),
            "root": self.root.to_json(),
            "selectors": [selector.to_json() for selector in self.selectors],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> User:
        return cls(
            name=str(raw["name"]).encode("latin-1"),
            enabled=bool(raw["enabled"]),
            nopass=bool(raw["nopass"]),
            sanitize=str(raw["sanitize"]),
            passwords=[str(digest) for digest in raw["passwords"]],
            root=Selector.from_json(raw["root"]),
            selectors=[Selector.from_json(selector) for selector in raw["selectors"]],
        )


def _checked_hash(text: bytes) -> str:
    if len(text) != 64 or any(c not in b"0123456789abcdef" for c in text):
        raise RuleError(BAD_HASH)
    return text.decode()


def new_user(name: bytes) -> User:
    """ACLCreateUser with acl-pubsub-default resetchannels (Redis 7.0's default)."""
    return User(name=name)


def default_user(password: bytes | None = None) -> User:
    """The `default` user: every command, key and channel; nopass unless `password`."""
    user = User(name=DEFAULT_USER, enabled=True, nopass=password is None)
    if password is not None:
        user.passwords.append(password_hash(password))
    user.root = Selector(allcommands=True, allkeys=True, allchannels=True)
    return user


def split_words(text: bytes) -> list[bytes]:
    """Space-separated words (a selector's rules inside its parentheses)."""
    return [word for word in text.split(b" ") if word]


def merge_selectors(ops: Iterable[bytes]) -> list[bytes]:
    """ACLMergeSelectorArguments: a selector given as several arguments, `(` in the first
    and `)` in the last, becomes one."""
    out: list[bytes] = []
    pending: list[bytes] | None = None
    for op in ops:
        if pending is not None:
            pending.append(op)
            if op.endswith(b")"):
                out.append(b" ".join(pending))
                pending = None
        elif op.startswith(b"(") and not op.endswith(b")"):
            pending = [op]
        else:
            out.append(op)
    if pending is not None:
        raise AclError(b"ERR Unmatched parenthesis in acl selector starting at '%s'." % pending[0])
    return out


def check_username(name: bytes) -> None:
    if b" " in name or b"\x00" in name:
        raise AclError(b"ERR Usernames can't contain spaces or null characters")
    if len(name) > MAX_NAME_LEN:
        raise AclError(b"ERR Usernames may have at most %d bytes" % MAX_NAME_LEN)


def set_user(user: User, ops: list[bytes]) -> User:
    """ACL SETUSER's rules on a copy of `user`: the changed copy, or AclError (the user
    is left as it was, as in Redis)."""
    changed = user.copy()
    for op in merge_selectors(ops):
        try:
            changed.apply(op)
        except RuleError as error:
            raise AclError(
                b"ERR Error in ACL SETUSER modifier '%s': %s" % (op, error.reason.encode())
            ) from None
    return changed
