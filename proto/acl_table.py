"""The cluster's ACL users and the changes made to them (ACL SETUSER, DELUSER, LOAD), as
the metadata group replicates them: a change is a JSON object, applied on every replica
with `AclTable.apply` (deterministic; a refused change leaves the table as it was). Each
user has a generation, the version of the change that created it: a client authenticated
as a user that was deleted, or replaced by ACL LOAD, is disconnected, as Redis does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from proto.acl import (
    DEFAULT_USER,
    MAX_RULES_PER_USER,
    MAX_USERS,
    UNKNOWN_NAME,
    AclError,
    RuleError,
    User,
    check_username,
    default_user,
    merge_selectors,
    new_user,
    set_user,
)

TOO_MANY_USERS = b"ERR There may be at most %d ACL users" % MAX_USERS
# What one change may carry, so that applying it stays short on every replica.
MAX_LOAD_WORDS = 65_536
TOO_MANY_RULES_AT_ONCE = b"ERR ACL SETUSER takes at most %d rules at once" % MAX_RULES_PER_USER
TOO_MANY_WORDS = b"ERR An ACL file may hold at most %d words" % MAX_LOAD_WORDS


@dataclass(slots=True)
class AclTable:
    """The users other than an untouched `default` (whose password a router's requirepass
    gives while no ACL change named it)."""

    users: dict[bytes, User] = field(default_factory=dict)
    generations: dict[bytes, int] = field(default_factory=dict)
    version: int = 0

    def user(self, name: bytes, requirepass: bytes | None = None) -> User | None:
        found = self.users.get(name)
        if found is None and name == DEFAULT_USER:
            return default_user(requirepass)
        return found

    def names(self) -> list[bytes]:
        return sorted(self.users.keys() | {DEFAULT_USER})

    def generation(self, name: bytes) -> int:
        return self.generations.get(name, 0)

    # ------------------------------------------------------------------ changes

    def apply(self, change: dict[str, Any], version: int, requirepass: bytes | None = None) -> Any:
        """Apply one change (AclError if refused: nothing changed). Returns what the
        command answers: OK's None, or DELUSER's count."""
        action = change.get("action")
        if action == "setuser":
            name = _bytes(change.get("name"))
            rules = [_bytes(rule) for rule in _list(change.get("rules"))]
            if len(rules) > MAX_RULES_PER_USER:
                raise AclError(TOO_MANY_RULES_AT_ONCE)
            check_username(name)
            current = self.user(name, requirepass)
            created = current is None
            if current is None:
                if len(self.users) >= MAX_USERS:
                    raise AclError(TOO_MANY_USERS)
                current = new_user(name)
            self.users[name] = set_user(current, rules)
            if created:
                self.generations[name] = version
            self.version = version
            return None
        if action == "deluser":
            names = [_bytes(name) for name in _list(change.get("names"))]
            if DEFAULT_USER in names:
                raise AclError(b"ERR The 'default' user cannot be removed")
            deleted = 0
            for name in names:
                if self.users.pop(name, None) is not None:
                    self.generations.pop(name, None)
                    deleted += 1
            self.version = version
            return deleted
        if action == "load":
            users = parse_acl_file(_bytes(change.get("text")), _bytes(change.get("path")))
            self.users = users
            self.generations = {name: version for name in users if name != DEFAULT_USER}
            self.version = version
            return None
        raise AclError(b"ERR unknown ACL change")

    # ------------------------------------------------------------------ snapshots

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "users": [
                {"user": user.to_json(), "generation": self.generations.get(name, 0)}
                for name, user in sorted(self.users.items())
            ],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AclTable:
        table = cls(version=int(raw.get("version", 0)))
        for item in raw.get("users", []):
            user = User.from_json(item["user"])
            table.users[user.name] = user
            table.generations[user.name] = int(item["generation"])
        return table

    def copy(self) -> AclTable:
        return AclTable.from_json(self.to_json())


def _bytes(value: object) -> bytes:
    if type(value) is not str:
        raise AclError(b"ERR malformed ACL change")
    return value.encode("latin-1")


def _list(value: object) -> list[Any]:
    if type(value) is not list:
        raise AclError(b"ERR malformed ACL change")
    return value


def change(action: str, **fields: object) -> dict[str, Any]:
    """A change as JSON-able data (bytes as latin-1 text)."""
    out: dict[str, Any] = {"action": action}
    for key, value in fields.items():
        if isinstance(value, bytes):
            out[key] = value.decode("latin-1")
        elif isinstance(value, list):
            out[key] = [item.decode("latin-1") for item in value]
        else:
            out[key] = value
    return out


def encode_change(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True)


# ---------------------------------------------------------------------- ACL files


def acl_file_text(table: AclTable, requirepass: bytes | None) -> bytes:
    """ACL SAVE's file: ACL LIST's lines."""
    lines = [table.user(name, requirepass).line() for name in table.names()]  # type: ignore[union-attr]
    return b"".join(line + b"\n" for line in lines)


def parse_acl_file(text: bytes, path: bytes = b"") -> dict[bytes, User]:
    """ACLLoadFromFile's parse: every line `user <name> <rules...>` (words split at each
    space); all or nothing, with Redis 7.0's error texts (only the first error that is not
    an unknown name is told for a line: the others may show a password). Without a
    `default` line, `default` is Redis's initial one."""
    if text.count(b" ") + text.count(b"\n") >= MAX_LOAD_WORDS:
        raise AclError(TOO_MANY_WORDS)
    users: dict[bytes, User] = {}
    errors = b""
    for number, raw_line in enumerate(text.split(b"\n"), start=1):
        line = raw_line.strip(b" \t\r\n")
        if not line:
            continue
        words = line.split(b" ")
        if words[0] != b"user" or len(words) < 2:
            errors += b"%s:%d should start with user keyword followed by the username. " % (
                path,
                number,
            )
            continue
        name = words[1]
        try:
            check_username(name)
        except AclError:
            errors += b"'%s:%d: username '%s' contains invalid characters. " % (path, number, name)
            continue
        if name in users:
            errors += b"WARNING: Duplicate user '%s' found on line %d. " % (name, number)
            continue
        if len(users) >= MAX_USERS:
            errors += b"%s:%d: %s. " % (path, number, TOO_MANY_USERS[4:])
            break
        user = new_user(name)
        users[name] = user
        try:
            ops = merge_selectors(words[2:])
        except AclError:
            errors += b"%s:%d: Unmatched parenthesis in selector definition." % (path, number)
            continue
        told = False
        for op in ops:
            try:
                user.apply(op.strip(b"\t\r\n"))
            except RuleError as error:
                reason = error.reason.encode()
                if error.reason == UNKNOWN_NAME:
                    errors += b"%s:%d: Error in applying operation '%s': %s. " % (
                        path,
                        number,
                        op,
                        reason,
                    )
                elif not told:
                    errors += b"%s:%d: %s. " % (path, number, reason)
                    told = True
    if errors:
        raise AclError(
            b"ERR "
            + errors
            + b"WARNING: ACL errors detected, no change to the previously active ACL rules "
            b"was performed"
        )
    if DEFAULT_USER not in users:
        users[DEFAULT_USER] = default_user()
    return users
