"""Redis 7.0's configuration parameters: their names and aliases, how a value is parsed
and checked (with Redis's error texts), how CONFIG GET shows it, and redis.conf files.

Shared by the router (CONFIG GET/SET/REWRITE, `--config`), the nodes (the cluster-wide
settings they apply, `--config`) and `slotraft up`. Every value is held in its canonical
form, the text CONFIG GET shows (`maxmemory 100mb` is held as "104857600"), so that two
holders of a setting compare it by string equality and a replicated setting has one
spelling on every replica.

Where each parameter lives in slotraft (`SCOPES`):

- CLUSTER: replicated through the metadata group, applied by every node (engine settings,
  `ENGINE_PARAMETERS`) or every router (slowlog, latency monitor);
- ROUTER: the router that received it (client limits, timeout, protected mode);
- every other parameter Redis 7.0 knows is FIXED: CONFIG GET shows the value slotraft runs
  with (Redis's default where the parameter has no meaning here) and CONFIG SET accepts
  only that same value, since nothing here would act on another one.

Values are str, bytes read as latin-1 (lossless both ways)."""

from __future__ import annotations

import enum
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
UINT_MAX = 2**32 - 1
LLONG_MAX = 2**63 - 1
ULLONG_MAX = 2**64 - 1

REDIS_VERSION = "7.0.15"


class ConfigError(ValueError):
    """A value Redis would refuse; the message is Redis's reason (the text after
    "CONFIG SET failed (possibly related to argument 'x') - ")."""


# ---------------------------------------------------------------------- Redis's number rules


def string2ll(text: str) -> int | None:
    """Redis's string2ll: an optional '-', no leading zeros, no spaces, within long long."""
    if not text or len(text) >= 21:
        return None
    if text == "0":
        return 0
    digits = text[1:] if text[0] == "-" else text
    if not digits or not ("1" <= digits[0] <= "9") or not digits.isascii() or not digits.isdigit():
        return None
    value = -int(digits) if text[0] == "-" else int(digits)
    return value if -(2**63) <= value <= LLONG_MAX else None


_MEMORY_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
}


def memtoull(text: str) -> int:
    """Redis's memtoull: digits and a unit (b, k, kb, m, mb, g, gb, any case; k is 1000, kb
    1024). As in Redis, "" and a unit alone are 0, digits past 2^64-1 saturate and the
    product wraps at 64 bits. ValueError for anything else."""
    if text.startswith("-"):
        raise ValueError(text)
    position = 0
    while position < len(text) and "0" <= text[position] <= "9":
        position += 1
    unit = text[position:].lower()
    if unit not in _MEMORY_UNITS:
        raise ValueError(text)
    if position >= 128:
        raise ValueError(text)
    digits = text[:position]
    value = min(int(digits), ULLONG_MAX) if digits else 0
    return (value * _MEMORY_UNITS[unit]) & ULLONG_MAX


def c_strtoll(text: str) -> tuple[int, str]:
    """C's strtoll in base 10: leading white space, a sign, digits (saturating at the long
    long range); the value and what follows. No digits: 0 and the whole text."""
    match = re.match(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)", text)
    if match is None:
        return 0, text
    value = int(match.group(2))
    if match.group(1) == "-":
        value = max(-value, -(2**63))
    else:
        value = min(value, LLONG_MAX)
    return value, text[match.end() :]


def _int32(value: int) -> int:
    """A long long stored in a C int (two's complement truncation)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan(?:\([0-9a-zA-Z_]*\))?)",
    re.IGNORECASE,
)
_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
)


def string2d(text: str) -> float | None:
    """Redis's string2d: strtod of the whole text, no leading space, no NaN."""
    if not text or text[0].isspace() or len(text) >= 5 * 1024:
        return None
    if _HEX_FLOAT.fullmatch(text):
        body = text.lstrip("+-")
        value = float.fromhex(body if "p" in body.lower() else body + "p0")
        return -value if text.startswith("-") else value
    if not _FLOAT.fullmatch(text):
        return None
    value = float(text.split("(")[0]) if "(" in text else float(text)
    return None if math.isnan(value) else value


def _trim_double(value: float) -> str:
    """printf("%f") with the trailing zeros (and the point) removed, as Redis shows a
    percentile."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


# ---------------------------------------------------------------------- parameters

Parse = Callable[[str, str], str]  # (value as given, current canonical) -> canonical


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    default: str  # Redis 7.0's default, as CONFIG GET shows it
    parse: Parse
    aliases: tuple[str, ...] = ()
    immutable: bool = False
    protected: bool = False
    hidden: bool = False  # CONFIG GET shows it to an exact name only, never to a pattern
    sensitive: bool = False  # its value is "(redacted)" in the slowlog
    multi_arg: bool = False  # a file directive takes several arguments
    unit: str = ""  # "memory": written with a unit by CONFIG REWRITE

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def _bool(name: str, default: str, **flags: object) -> Parameter:
    def parse(value: str, current: str) -> str:
        lowered = value.lower()
        if lowered not in ("yes", "no"):
            raise ConfigError("argument must be 'yes' or 'no'")
        return lowered

    return _parameter(name, default, parse, flags)


def _string(name: str, default: str, **flags: object) -> Parameter:
    return _parameter(name, default, lambda value, current: value, flags)


def _enum(
    name: str,
    default: str,
    choices: tuple[str, ...],
    values: tuple[int, ...] | None = None,
    **flags: object,
) -> Parameter:
    numbers = values if values is not None else tuple(range(len(choices)))
    bitflags = bool(flags.get("multi_arg"))
    refusal = "argument(s) must be one of the following: " + ", ".join(choices)

    def parse(value: str, current: str) -> str:
        words = value.split(" ") if bitflags else [value]
        if not words or (bitflags and value == ""):
            raise ConfigError(refusal)
        combined = 0
        for word in words:
            matched = [n for choice, n in zip(choices, numbers) if choice == word.lower()]
            if not matched:
                raise ConfigError(refusal)
            combined |= matched[0]
        if bitflags and combined & 1 and combined & 2:
            raise ConfigError("shutdown options SAVE and NOSAVE can't be used simultaneously")
        return _enum_name(choices, numbers, combined, bitflags)

    return _parameter(name, default, parse, flags)


def _enum_name(
    choices: tuple[str, ...], numbers: tuple[int, ...], value: int, bitflags: bool
) -> str:
    """Redis's configEnumGetName: the first exact match, else the flags' names."""
    names: list[str] = []
    unmatched = value
    for choice, number in zip(choices, numbers):
        if value == number:
            return choice
        if bitflags and number and number == (unmatched & number):
            names.append(choice)
            unmatched &= ~number
    if not names or unmatched:
        return "unknown"
    return " ".join(names)


def _numeric(
    name: str,
    default: int,
    lower: int,
    upper: int,
    *,
    memory: bool = False,
    octal: bool = False,
    unsigned: bool = False,
    percent: bool = False,
    **flags: object,
) -> Parameter:
    """Redis's numeric configs: memory values (units), percentages (stored negative),
    octal numbers, else plain integers; then the bounds, checked as Redis checks them for
    the parameter's C type."""

    def parse(value: str, current: str) -> str:
        number: int | None = None
        if memory:
            try:
                number = memtoull(value)
            except ValueError:
                number = None
            if number is not None and not unsigned and number > LLONG_MAX:
                number -= 1 << 64  # held in a long long
        if number is None and percent and len(value) > 1 and value.endswith("%"):
            parsed = string2ll(value[:-1])
            if parsed is not None and parsed >= 0:
                number = -parsed
        if number is None and octal:
            try:
                number = int(value, 8) if re.fullmatch(r"[ \t]*[+-]?[0-7]+", value) else None
            except ValueError:
                number = None
        if number is None and not (memory or octal or percent):
            number = string2ll(value)
        if number is None:
            if memory and percent:
                raise ConfigError("argument must be a memory or percent value")
            if memory:
                raise ConfigError("argument must be a memory value")
            if octal:
                raise ConfigError("argument couldn't be parsed as an octal number")
            raise ConfigError("argument couldn't be parsed into an integer")
        if unsigned:
            as_unsigned = number & ULLONG_MAX
            if not lower <= as_unsigned <= upper:
                if octal:
                    raise ConfigError(f"argument must be between {lower:o} and {upper:o} inclusive")
                raise ConfigError(f"argument must be between {lower} and {upper} inclusive")
            number = as_unsigned
        elif percent and number < 0:
            if number < lower:
                raise ConfigError(f"percentage argument must be less or equal to {-lower}")
        elif not lower <= number <= upper:
            raise ConfigError(f"argument must be between {lower} and {upper} inclusive")
        if percent and number < 0:
            return f"{-number}%"
        if octal:
            return f"{number:o}"
        return str(number)

    return _parameter(name, str(default), parse, flags, unit="memory" if memory else "")


def _int(name: str, default: int, lower: int, upper: int, **flags: object) -> Parameter:
    return _numeric(name, default, lower, upper, **flags)  # type: ignore[arg-type]


def _memory(name: str, default: int, lower: int, upper: int, **flags: object) -> Parameter:
    return _numeric(name, default, lower, upper, memory=True, **flags)  # type: ignore[arg-type]


def _octal(name: str, default: int, lower: int, upper: int, **flags: object) -> Parameter:
    return _numeric(name, default, lower, upper, octal=True, **flags)  # type: ignore[arg-type]


def _parameter(
    name: str, default: str, parse: Parse, flags: dict[str, object], unit: str = ""
) -> Parameter:
    alias = flags.pop("alias", None)
    return Parameter(
        name=name,
        default=default,
        parse=parse,
        aliases=(str(alias),) if alias else (),
        immutable=bool(flags.pop("immutable", False)),
        protected=bool(flags.pop("protected", False)),
        hidden=bool(flags.pop("hidden", False)),
        sensitive=bool(flags.pop("sensitive", False)),
        multi_arg=bool(flags.pop("multi_arg", False)),
        unit=unit,
    )


# ---------------------------------------------------------------------- special parameters


def _parse_save(value: str, current: str) -> str:
    words = value.split(" ") if value else []
    if len(words) == 1 and words[0] == "":
        words = []
    if len(words) % 2:
        raise ConfigError("Invalid save parameters")
    numbers = []
    for position, word in enumerate(words):
        number, rest = c_strtoll(word)
        if rest or (position % 2 == 0 and number < 1) or (position % 2 == 1 and number < 0):
            raise ConfigError("Invalid save parameters")
        numbers.append(number if position % 2 == 0 else _int32(number))
    return " ".join(str(number) for number in numbers)


_OUTPUT_CLASSES = ("normal", "slave", "pubsub")
_CLASS_ALIASES = {"normal": "normal", "slave": "slave", "replica": "slave", "pubsub": "pubsub"}
DEFAULT_OUTPUT_LIMITS = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"


def output_limits(canonical: str) -> dict[str, tuple[int, int, int]]:
    """client-output-buffer-limit as class -> (hard bytes, soft bytes, soft seconds)."""
    words = canonical.split()
    return {
        words[i]: (int(words[i + 1]), int(words[i + 2]), int(words[i + 3]))
        for i in range(0, len(words), 4)
    }


def _parse_output_limits(value: str, current: str) -> str:
    words = value.split(" ") if value else []
    if len(words) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    limits = output_limits(current or DEFAULT_OUTPUT_LIMITS)
    changed = {}
    for i in range(0, len(words), 4):
        kind = _CLASS_ALIASES.get(words[i].lower())
        if kind is None:
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        try:
            hard = memtoull(words[i + 1])
            soft = memtoull(words[i + 2])
        except ValueError:
            hard = soft = -1
        seconds, rest = c_strtoll(words[i + 3])
        seconds = _int32(seconds)
        if hard < 0 or soft < 0 or seconds < 0 or rest:
            raise ConfigError(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
            )
        changed[kind] = (hard, soft, seconds)
    limits.update(changed)
    return " ".join(f"{kind} {' '.join(map(str, limits[kind]))}" for kind in _OUTPUT_CLASSES)


def _parse_oom_values(value: str, current: str) -> str:
    words = value.split(" ") if value else []
    if len(words) != 3:
        raise ConfigError("wrong number of arguments")
    numbers = []
    for word in words:
        number, rest = c_strtoll(word)
        if rest or not -2000 <= number <= 2000:
            raise ConfigError(
                "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
            )
        numbers.append(number)
    return " ".join(map(str, numbers))


# Keyspace notification classes, in the order Redis writes them.
_NOTIFY_FLAGS = {
    "K": 1 << 0,
    "E": 1 << 1,
    "g": 1 << 2,
    "$": 1 << 3,
    "l": 1 << 4,
    "s": 1 << 5,
    "h": 1 << 6,
    "z": 1 << 7,
    "x": 1 << 8,
    "e": 1 << 9,
    "t": 1 << 10,
    "m": 1 << 11,
    "d": 1 << 13,
    "n": 1 << 14,
}
_NOTIFY_ALL = sum(_NOTIFY_FLAGS[c] for c in "g$lshzxetd")


def notify_flags(value: str) -> int:
    """The flags of a notify-keyspace-events value; ConfigError for an unknown class."""
    flags = 0
    for char in value:
        if char == "A":
            flags |= _NOTIFY_ALL
        elif char in _NOTIFY_FLAGS:
            flags |= _NOTIFY_FLAGS[char]
        else:
            raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    return flags


def _notify_text(flags: int) -> str:
    text = ""
    if flags & _NOTIFY_ALL == _NOTIFY_ALL:
        text += "A"
    else:
        text += "".join(c for c in "g$lshzxetdn" if flags & _NOTIFY_FLAGS[c])
    return text + "".join(c for c in "KEm" if flags & _NOTIFY_FLAGS[c])


def _parse_notify(value: str, current: str) -> str:
    return _notify_text(notify_flags(value))


def _parse_bind(value: str, current: str) -> str:
    words = value.split(" ")
    if len(words) > 16:
        raise ConfigError("Too many bind addresses specified.")
    return "" if words == [""] else " ".join(words)


def _parse_percentiles(value: str, current: str) -> str:
    words = value.split(" ") if value else [""]
    if words == [""]:
        return ""
    shown = []
    for word in words:
        number = string2d(word)
        if number is None:
            raise ConfigError("Invalid latency-tracking-info-percentiles parameters")
        if not 0.0 <= number <= 100.0:
            raise ConfigError(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
            )
        shown.append(_trim_double(number))
    return " ".join(shown)


def _refuse(reason: str) -> Parse:
    def parse(value: str, current: str) -> str:
        raise ConfigError(reason)

    return parse


# ---------------------------------------------------------------------- the table

REDIS_PARAMETERS: tuple[Parameter, ...] = (
    _bool("rdbchecksum", "yes", immutable=True),
    _bool("daemonize", "no", immutable=True),
    _bool("io-threads-do-reads", "no", immutable=True),
    _bool("always-show-logo", "no", immutable=True),
    _bool("protected-mode", "yes"),
    _bool("rdbcompression", "yes"),
    _bool("rdb-del-sync-files", "no"),
    _bool("activerehashing", "yes"),
    _bool("stop-writes-on-bgsave-error", "yes"),
    _bool("set-proc-title", "yes", immutable=True),
    _bool("dynamic-hz", "yes"),
    _bool("lazyfree-lazy-eviction", "no"),
    _bool("lazyfree-lazy-expire", "no"),
    _bool("lazyfree-lazy-server-del", "no"),
    _bool("lazyfree-lazy-user-del", "no"),
    _bool("lazyfree-lazy-user-flush", "no"),
    _bool("repl-disable-tcp-nodelay", "no"),
    _bool("repl-diskless-sync", "yes"),
    _bool("aof-rewrite-incremental-fsync", "yes"),
    _bool("no-appendfsync-on-rewrite", "no"),
    _bool("cluster-require-full-coverage", "yes"),
    _bool("rdb-save-incremental-fsync", "yes"),
    _bool("aof-load-truncated", "yes"),
    _bool("aof-use-rdb-preamble", "yes"),
    _bool("aof-timestamp-enabled", "no"),
    _bool("cluster-replica-no-failover", "no", alias="cluster-slave-no-failover"),
    _bool("replica-lazy-flush", "no", alias="slave-lazy-flush"),
    _bool("replica-serve-stale-data", "yes", alias="slave-serve-stale-data"),
    _bool("replica-read-only", "yes", alias="slave-read-only"),
    _bool("replica-ignore-maxmemory", "yes", alias="slave-ignore-maxmemory"),
    _bool("jemalloc-bg-thread", "yes"),
    _bool("activedefrag", "no"),
    _bool("syslog-enabled", "no", immutable=True),
    _bool("cluster-enabled", "no", immutable=True),
    _bool("appendonly", "no"),
    _bool("cluster-allow-reads-when-down", "no"),
    _bool("cluster-allow-pubsubshard-when-down", "yes"),
    _bool("crash-log-enabled", "yes"),
    _bool("crash-memcheck-enabled", "yes"),
    _bool("use-exit-on-panic", "no", hidden=True),
    _bool("disable-thp", "yes", immutable=True),
    _bool("cluster-allow-replica-migration", "yes"),
    _bool("replica-announced", "yes"),
    _bool("latency-tracking", "yes"),
    _bool("aof-disable-auto-gc", "no"),
    _bool("replica-ignore-disk-write-errors", "no"),
    _string("aclfile", "", immutable=True),
    _string("unixsocket", "", immutable=True),
    _string("pidfile", "", immutable=True),
    _string("replica-announce-ip", "", alias="slave-announce-ip"),
    _string("masteruser", "", sensitive=True),
    _string("cluster-announce-ip", ""),
    _string("cluster-config-file", "nodes.conf", immutable=True),
    _string("cluster-announce-hostname", ""),
    _string("syslog-ident", "redis", immutable=True),
    _string("dbfilename", "dump.rdb", protected=True),
    _string("appendfilename", "appendonly.aof", immutable=True),
    _string("appenddirname", "appendonlydir", immutable=True),
    _string("server_cpulist", "", immutable=True),
    _string("bio_cpulist", "", immutable=True),
    _string("aof_rewrite_cpulist", "", immutable=True),
    _string("bgsave_cpulist", "", immutable=True),
    _string("ignore-warnings", ""),
    _string("proc-title-template", "{title} {listen-addr} {server-mode}"),
    _string("bind-source-addr", ""),
    _string("logfile", "", immutable=True),
    _string("masterauth", "", sensitive=True),
    _string("requirepass", "", sensitive=True),
    _enum("supervised", "no", ("upstart", "systemd", "auto", "no"), immutable=True),
    _enum(
        "syslog-facility",
        "local0",
        ("user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"),
        immutable=True,
    ),
    _enum("repl-diskless-load", "disabled", ("disabled", "on-empty-db", "swapdb")),
    _enum("loglevel", "notice", ("debug", "verbose", "notice", "warning")),
    _enum(
        "maxmemory-policy",
        "noeviction",
        (
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ),
    ),
    _enum("appendfsync", "everysec", ("everysec", "always", "no")),
    _enum("oom-score-adj", "no", ("no", "yes", "relative", "absolute"), (0, 1, 1, 2)),
    _enum("acl-pubsub-default", "resetchannels", ("allchannels", "resetchannels")),
    _enum("sanitize-dump-payload", "no", ("no", "yes", "clients")),
    _enum("enable-protected-configs", "no", ("no", "yes", "local"), immutable=True),
    _enum("enable-debug-command", "no", ("no", "yes", "local"), immutable=True),
    _enum("enable-module-command", "no", ("no", "yes", "local"), immutable=True),
    _enum("cluster-preferred-endpoint-type", "ip", ("ip", "hostname", "unknown-endpoint")),
    _enum("propagation-error-behavior", "ignore", ("ignore", "panic", "panic-on-replicas")),
    _enum(
        "shutdown-on-sigint",
        "default",
        ("default", "save", "nosave", "now", "force"),
        (0, 1, 2, 4, 8),
        multi_arg=True,
    ),
    _enum(
        "shutdown-on-sigterm",
        "default",
        ("default", "save", "nosave", "now", "force"),
        (0, 1, 2, 4, 8),
        multi_arg=True,
    ),
    _int("databases", 16, 1, INT_MAX, immutable=True),
    _int("port", 6379, 0, 65535),
    _int("io-threads", 1, 1, 128, immutable=True),
    _int("auto-aof-rewrite-percentage", 100, 0, INT_MAX),
    _int("cluster-replica-validity-factor", 10, 0, INT_MAX, alias="cluster-slave-validity-factor"),
    _int("list-max-listpack-size", -2, INT_MIN, INT_MAX, alias="list-max-ziplist-size"),
    _int("tcp-keepalive", 300, 0, INT_MAX),
    _int("cluster-migration-barrier", 1, 0, INT_MAX),
    _int("active-defrag-cycle-min", 1, 1, 99),
    _int("active-defrag-cycle-max", 25, 1, 99),
    _int("active-defrag-threshold-lower", 10, 0, 1000),
    _int("active-defrag-threshold-upper", 100, 0, 1000),
    _int("lfu-log-factor", 10, 0, INT_MAX),
    _int("lfu-decay-time", 1, 0, INT_MAX),
    _int("replica-priority", 100, 0, INT_MAX, alias="slave-priority"),
    _int("repl-diskless-sync-delay", 5, 0, INT_MAX),
    _int("maxmemory-samples", 5, 1, INT_MAX),
    _int("maxmemory-eviction-tenacity", 10, 0, 100),
    _int("timeout", 0, 0, INT_MAX),
    _int("replica-announce-port", 0, 0, 65535, alias="slave-announce-port"),
    _int("tcp-backlog", 511, 0, INT_MAX, immutable=True),
    _int("cluster-port", 0, 0, 65535, immutable=True),
    _int("cluster-announce-bus-port", 0, 0, 65535),
    _int("cluster-announce-port", 0, 0, 65535),
    _int("cluster-announce-tls-port", 0, 0, 65535),
    _int("repl-timeout", 60, 1, INT_MAX),
    _int("repl-ping-replica-period", 10, 1, INT_MAX, alias="repl-ping-slave-period"),
    _int("list-compress-depth", 0, 0, INT_MAX),
    _int("rdb-key-save-delay", 0, INT_MIN, INT_MAX, hidden=True),
    _int("key-load-delay", 0, INT_MIN, INT_MAX, hidden=True),
    _int("active-expire-effort", 1, 1, 10),
    _int("hz", 10, 0, INT_MAX),
    _int("min-replicas-to-write", 0, 0, INT_MAX, alias="min-slaves-to-write"),
    _int("min-replicas-max-lag", 10, 0, INT_MAX, alias="min-slaves-max-lag"),
    _int("watchdog-period", 0, 0, INT_MAX, hidden=True),
    _int("shutdown-timeout", 10, 0, INT_MAX),
    _int("repl-diskless-sync-max-replicas", 0, 0, INT_MAX),
    _int("maxclients", 10000, 1, UINT_MAX, unsigned=True),
    _octal("unixsocketperm", 0, 0, 511, unsigned=True, immutable=True),
    _int("socket-mark-id", 0, 0, UINT_MAX, unsigned=True, immutable=True),
    _int("active-defrag-max-scan-fields", 1000, 1, LLONG_MAX),
    _int("slowlog-max-len", 128, 0, LLONG_MAX),
    _int("acllog-max-len", 128, 0, LLONG_MAX),
    _int("busy-reply-threshold", 5000, 0, LLONG_MAX, alias="lua-time-limit"),
    _int("cluster-node-timeout", 15000, 0, LLONG_MAX),
    _int("slowlog-log-slower-than", 10000, -1, LLONG_MAX),
    _int("latency-monitor-threshold", 0, 0, LLONG_MAX),
    _memory("proto-max-bulk-len", 536870912, 1048576, LLONG_MAX),
    _int("stream-node-max-entries", 100, 0, LLONG_MAX),
    _memory("repl-backlog-size", 1048576, 1, LLONG_MAX),
    _memory("maxmemory", 0, 0, ULLONG_MAX, unsigned=True),
    _memory("cluster-link-sendbuf-limit", 0, 0, ULLONG_MAX, unsigned=True),
    _int(
        "hash-max-listpack-entries",
        512,
        0,
        LLONG_MAX,
        unsigned=True,
        alias="hash-max-ziplist-entries",
    ),
    _int("set-max-intset-entries", 512, 0, LLONG_MAX, unsigned=True),
    _int(
        "zset-max-listpack-entries",
        128,
        0,
        LLONG_MAX,
        unsigned=True,
        alias="zset-max-ziplist-entries",
    ),
    _memory("active-defrag-ignore-bytes", 104857600, 1, LLONG_MAX, unsigned=True),
    _memory(
        "hash-max-listpack-value", 64, 0, LLONG_MAX, unsigned=True, alias="hash-max-ziplist-value"
    ),
    _memory("stream-node-max-bytes", 4096, 0, LLONG_MAX, unsigned=True),
    _memory(
        "zset-max-listpack-value", 64, 0, LLONG_MAX, unsigned=True, alias="zset-max-ziplist-value"
    ),
    _memory("hll-sparse-max-bytes", 3000, 0, LLONG_MAX, unsigned=True),
    _int("tracking-table-max-keys", 1000000, 0, LLONG_MAX, unsigned=True),
    _memory("client-query-buffer-limit", 1073741824, 1048576, LLONG_MAX, unsigned=True),
    _memory("maxmemory-clients", 0, -100, LLONG_MAX, percent=True),
    _int("repl-backlog-ttl", 3600, 0, LLONG_MAX),
    _memory("auto-aof-rewrite-min-size", 67108864, 0, LLONG_MAX),
    _int("loading-process-events-interval-bytes", 2097152, 1024, INT_MAX, hidden=True),
    _int("tls-port", 0, 0, 65535),
    _int("tls-session-cache-size", 20480, 0, INT_MAX),
    _int("tls-session-cache-timeout", 300, 0, INT_MAX),
    _bool("tls-cluster", "no"),
    _bool("tls-replication", "no"),
    _enum("tls-auth-clients", "yes", ("no", "yes", "optional")),
    _bool("tls-prefer-server-ciphers", "no"),
    _bool("tls-session-caching", "yes"),
    _string("tls-cert-file", ""),
    _string("tls-key-file", ""),
    _string("tls-key-file-pass", ""),
    _string("tls-client-cert-file", ""),
    _string("tls-client-key-file", ""),
    _string("tls-client-key-file-pass", ""),
    _string("tls-dh-params-file", ""),
    _string("tls-ca-cert-file", ""),
    _string("tls-ca-cert-dir", ""),
    _string("tls-protocols", ""),
    _string("tls-ciphers", ""),
    _string("tls-ciphersuites", ""),
    Parameter("dir", "", lambda value, current: value, protected=True),
    Parameter("save", "3600 1 300 100 60 10000", _parse_save, multi_arg=True),
    Parameter(
        "client-output-buffer-limit", DEFAULT_OUTPUT_LIMITS, _parse_output_limits, multi_arg=True
    ),
    Parameter("oom-score-adj-values", "0 200 800", _parse_oom_values, multi_arg=True),
    Parameter("notify-keyspace-events", "", _parse_notify),
    Parameter("bind", "* -::*", _parse_bind, multi_arg=True),
    Parameter(
        "replicaof",
        "",
        _refuse("replicaof takes a host and a port"),
        aliases=("slaveof",),
        immutable=True,
        multi_arg=True,
    ),
    Parameter(
        "latency-tracking-info-percentiles", "50 99 99.9", _parse_percentiles, multi_arg=True
    ),
)

# slotraft's own parameters (the engine's limits: node/engine/config.py says what each
# bounds); CONFIG GET shows them, CONFIG SET changes them on every shard.
SLOTRAFT_PARAMETERS: tuple[Parameter, ...] = (
    _int("max-command-work", 110_000, 1, LLONG_MAX),
    _int("script-max-instructions", 5_000_000, 1, LLONG_MAX),
    _memory("script-max-memory", 64 * 1024 * 1024, 1024 * 1024, LLONG_MAX),
    _int("max-random-draws", 1_000_000, 1, LLONG_MAX),
)

PARAMETERS: tuple[Parameter, ...] = REDIS_PARAMETERS + SLOTRAFT_PARAMETERS
_BY_NAME: dict[str, Parameter] = {
    name: parameter for parameter in PARAMETERS for name in parameter.names
}


def lookup(name: str) -> Parameter | None:
    """The parameter a name (or alias) means, in any case; None if Redis has none."""
    return _BY_NAME.get(name.lower())


def all_names() -> Iterable[tuple[str, Parameter]]:
    """Every name CONFIG GET knows (aliases too, as Redis 7.0 lists them), with its
    parameter."""
    return _BY_NAME.items()


class Scope(enum.Enum):
    CLUSTER = "cluster"  # metadata group; nodes or routers apply it
    ROUTER = "router"  # the router that received it
    FIXED = "fixed"  # slotraft runs with one value


# Applied by every shard replica at a position of its log (node/engine/config.py).
ENGINE_PARAMETERS = frozenset(
    {
        "maxmemory",
        "maxmemory-policy",
        "maxmemory-samples",
        "lfu-log-factor",
        "lfu-decay-time",
        "hash-max-listpack-entries",
        "hash-max-listpack-value",
        "set-max-intset-entries",
        "zset-max-listpack-entries",
        "zset-max-listpack-value",
        "stream-node-max-entries",
        "stream-node-max-bytes",
        "list-max-listpack-size",
        "list-compress-depth",
        "hll-sparse-max-bytes",
        "notify-keyspace-events",
        "max-command-work",
        "script-max-instructions",
        "script-max-memory",
        "max-random-draws",
    }
)
# Cluster-wide, applied by every router.
ROUTER_APPLIED_PARAMETERS = frozenset(
    {
        "slowlog-log-slower-than",
        "slowlog-max-len",
        "latency-monitor-threshold",
        "latency-tracking",
        "latency-tracking-info-percentiles",
    }
)
CLUSTER_PARAMETERS = ENGINE_PARAMETERS | ROUTER_APPLIED_PARAMETERS
ROUTER_PARAMETERS = frozenset(
    {
        "timeout",
        "maxclients",
        "client-output-buffer-limit",
        "client-query-buffer-limit",
        "proto-max-bulk-len",
        "protected-mode",
    }
)

# Why a FIXED parameter cannot change: shown after Redis's "CONFIG SET failed (possibly
# related to argument 'x') - ".
FIXED_REASONS = {
    "busy-reply-threshold": "not supported: a script is bounded by script-max-instructions, "
    "a budget every replica counts alike, not by time",
}
FIXED_REASON = "not supported by slotraft, which runs with the value CONFIG GET shows"


def scope(parameter: Parameter) -> Scope:
    if parameter.name in CLUSTER_PARAMETERS:
        return Scope.CLUSTER
    if parameter.name in ROUTER_PARAMETERS:
        return Scope.ROUTER
    return Scope.FIXED


def defaults(names: Iterable[str]) -> dict[str, str]:
    return {name: _BY_NAME[name].default for name in names}


# Values slotraft runs with where they differ from Redis's defaults, for parameters it
# does not let change. Durability: every write is appended to the nodes' WAL and fsynced
# before it is acknowledged (appendonly, appendfsync always); snapshots are taken by
# entry count, not by `save` rules; one database; no replicas of the Redis kind.
FIXED_VALUES = {
    "databases": "1",
    "appendonly": "yes",
    "appendfsync": "always",
    "save": "",
    "cluster-enabled": "no",
}


def canonical(parameter: Parameter, value: str, current: str | None = None) -> str:
    """The value's canonical form (ConfigError with Redis's reason if it is refused)."""
    return parameter.parse(value, parameter.default if current is None else current)


# ---------------------------------------------------------------------- redis.conf files


class ConfigFileError(ValueError):
    pass


def split_args(line: str) -> list[str] | None:
    """Redis's sdssplitargs: words separated by white space; a quote starts a "double
    quoted" part (escapes \\n, \\r, \\t, \\b, \\a, \\xHH, \\<char>) or a 'single quoted' one
    (\\' only) anywhere in a word, and its closing quote must end the word. None when
    quotes are unbalanced."""
    args: list[str] = []
    position = 0
    length = len(line)
    while True:
        while position < length and line[position] in " \t\n\v\f\r":
            position += 1
        if position >= length:
            return args
        word: list[str] = []
        in_double = in_single = False
        while True:
            char = line[position] if position < length else ""
            if in_double:
                if not char:
                    return None
                following = line[position + 1] if position + 1 < length else ""
                if char == "\\" and following == "x" and _is_hex(line[position + 2 : position + 4]):
                    word.append(chr(int(line[position + 2 : position + 4], 16)))
                    position += 3
                elif char == "\\" and following:
                    position += 1
                    word.append(_ESCAPES.get(following, following))
                elif char == '"':
                    if following and following not in " \t\n\v\f\r":
                        return None
                    position += 1
                    break
                else:
                    word.append(char)
            elif in_single:
                if not char:
                    return None
                following = line[position + 1] if position + 1 < length else ""
                if char == "\\" and following == "'":
                    position += 1
                    word.append("'")
                elif char == "'":
                    if following and following not in " \t\n\v\f\r":
                        return None
                    position += 1
                    break
                else:
                    word.append(char)
            elif not char or char in " \n\r\t":
                break
            elif char == '"':
                in_double = True
            elif char == "'":
                in_single = True
            else:
                word.append(char)
            position += 1
        args.append("".join(word))


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}


def _is_hex(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)


@dataclass(frozen=True, slots=True)
class Directive:
    line: int
    text: str
    parameter: Parameter
    value: str  # canonical


def parse_config_text(text: str, source: str = "config") -> list[Directive]:
    """The directives of a redis.conf text, each value checked and made canonical as Redis
    checks it when it reads its file (`maxmemory 100mb`, `save 3600 1 300 100`, quoted
    strings, `include FILE`). ConfigFileError names the line and gives Redis's reason."""
    directives: list[Directive] = []
    values: dict[str, str] = {}
    saves: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip(" \t\r\n")
        if not line or line.startswith("#"):
            continue

        def fail(reason: str, number: int = number, line: str = line) -> ConfigFileError:
            return ConfigFileError(
                f"*** FATAL CONFIG FILE ERROR ({source}) ***\n"
                f"Reading the configuration file, at line {number}\n>>> '{line}'\n{reason}"
            )

        args = split_args(line)
        if args is None:
            raise fail("Unbalanced quotes in configuration line")
        if not args:
            continue
        name = args[0].lower()
        if name == "include" and len(args) == 2:
            included = Path(args[1])
            try:
                inner = included.read_bytes().decode("latin-1")
            except OSError as error:
                raise fail(f"cannot read the included file: {error}") from None
            for directive in parse_config_text(inner, str(included)):
                values[directive.parameter.name] = directive.value
                directives.append(directive)
            continue
        parameter = lookup(name)
        if parameter is None:
            raise fail("Bad directive or wrong number of arguments")
        if not parameter.multi_arg and len(args) != 2:
            raise fail("wrong number of arguments")
        value = " ".join(args[1:])
        if parameter.name == "save":
            # Successive save lines add up (the first replaces the default).
            saves.append(value)
            value = " ".join(part for part in saves if part)
        try:
            if parameter.name == "replicaof":
                raise ConfigError("replicaof is not supported: every shard replicates itself")
            shown = parameter.parse(value, values.get(parameter.name, parameter.default))
        except ConfigError as error:
            raise fail(str(error)) from None
        values[parameter.name] = shown
        directives.append(Directive(number, line, parameter, shown))
    return directives


def read_config_file(path: Path) -> dict[str, str]:
    """The parameters a redis.conf file sets (canonical name -> canonical value, the last
    directive of a parameter winning). OSError if it cannot be read, ConfigFileError if
    Redis would refuse it."""
    text = path.read_bytes().decode("latin-1")
    return {d.parameter.name: d.value for d in parse_config_text(text, str(path))}


def check_secret_file_mode(path: Path, values: dict[str, str]) -> None:
    """A file that holds `requirepass` must not be readable by other users (as the cluster
    secret's file)."""
    if values.get("requirepass") and path.stat().st_mode & 0o077:
        raise ConfigFileError(
            f"{path} holds requirepass but other users may read it: chmod 600 {path}"
        )


# ---------------------------------------------------------------------- CONFIG REWRITE


def _quoted(value: str) -> str:
    """A value as a redis.conf word: bare when it is one, else in double quotes."""
    if value and re.fullmatch(r"[!#-&(-\[\]-~]+", value):
        return value
    escaped = []
    for char in value:
        if char in '"\\':
            escaped.append("\\" + char)
        elif char == "\n":
            escaped.append("\\n")
        elif char == "\r":
            escaped.append("\\r")
        elif char == "\t":
            escaped.append("\\t")
        elif " " <= char <= "~":
            escaped.append(char)
        else:
            escaped.append(f"\\x{ord(char):02x}")
    return '"' + "".join(escaped) + '"'


def _memory_text(value: str) -> str:
    number = int(value)
    for unit, scale in (("gb", 1024**3), ("mb", 1024**2), ("kb", 1024)):
        if number and number % scale == 0:
            return f"{number // scale}{unit}"
    return value


def directive_lines(parameter: Parameter, value: str) -> list[str]:
    """How CONFIG REWRITE writes a parameter's value."""
    name = parameter.name
    if name == "save":
        words = value.split()
        if not words:
            return ['save ""']
        return [f"save {words[i]} {words[i + 1]}" for i in range(0, len(words), 2)]
    if name == "client-output-buffer-limit":
        return [
            f"{name} {kind} {_memory_text(str(hard))} {_memory_text(str(soft))} {seconds}"
            for kind, (hard, soft, seconds) in output_limits(value).items()
        ]
    if parameter.multi_arg:
        return [f"{name} {value}" if value else f'{name} ""']
    if parameter.unit == "memory" and not value.endswith("%"):
        return [f"{name} {_memory_text(value)}"]
    return [f"{name} {_quoted(value)}"]


def rewrite_config_text(text: str, values: dict[str, str]) -> str:
    """`text` with the parameters of `values` (canonical name -> canonical value) written
    as CONFIG REWRITE does: each in place of its first directive, later ones removed; those
    not in the file and not at Redis's default appended at the end."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out: list[str] = []
    written: set[str] = set()
    for raw in lines:
        stripped = raw.strip(" \t\r\n")
        args = split_args(stripped) if stripped and not stripped.startswith("#") else None
        parameter = lookup(args[0]) if args else None
        if parameter is None or parameter.name not in values:
            out.append(raw)
            continue
        if parameter.name not in written:
            out.extend(directive_lines(parameter, values[parameter.name]))
            written.add(parameter.name)
    missing = [
        name for name in values if name not in written and values[name] != _BY_NAME[name].default
    ]
    if missing:
        out.append("# Generated by CONFIG REWRITE")
        for name in missing:
            out.extend(directive_lines(_BY_NAME[name], values[name]))
    return "\n".join(out) + "\n"


def write_file_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".rewrite.tmp")
    with open(temporary, "wb") as handle:
        handle.write(text.encode("latin-1"))
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, path.stat().st_mode & 0o7777)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
