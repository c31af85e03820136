"""CONFIG GET, SET, RESETSTAT, REWRITE and HELP, with Redis 7.0's parameter names, checks
and error texts (proto/redis_config.py).

Where a parameter lives decides what SET does with it (proto/redis_config.py `scope`):

- cluster-wide ones (maxmemory and the other engine settings, slowlog, latency monitor)
  go through the metadata group: SET returns once the change applied there, and every
  node and router applies it (a shard at one position of its own log);
- router-local ones (timeout, maxclients, client buffer limits, protected-mode) change this
  router only;
- the others have one value here: SET accepts that value and refuses any other.

A SET of several parameters is checked whole before anything changes, as Redis does: all
or none. REWRITE writes this router's --config file, if it has one: its local settings
live only there, while the cluster-wide ones are replicated state already (the metadata
group's log and snapshots), so without a file there is nothing to write and REWRITE
answers OK."""

from __future__ import annotations

import dataclasses
import os

from proto import errors
from proto.glob import stringmatch
from proto.redis_config import (
    CLUSTER_PARAMETERS,
    FIXED_REASON,
    FIXED_REASONS,
    FIXED_VALUES,
    PARAMETERS,
    ROUTER_PARAMETERS,
    ConfigError,
    Parameter,
    all_names,
    lookup,
    rewrite_config_text,
    write_file_atomically,
)
from proto.resp import OK, Error, Map, Reply
from router.backend import BackendError
from router.config import RouterConfig
from router.connection import ClientState
from router.context import RouterContext
from router.local_commands import answers, help_lines
from router.open_files import TooFewFiles, fit_max_clients
from router.tls import ROUTER_TLS_PARAMETERS


def local_values(config: RouterConfig) -> dict[str, str]:
    """The router-local parameters as this router runs them."""
    return {
        "timeout": str(config.idle_timeout),
        "maxclients": str(config.max_clients),
        "client-output-buffer-limit": config.output_buffer_limits,
        "client-query-buffer-limit": str(config.limits.max_query_buffer),
        "proto-max-bulk-len": str(config.limits.max_bulk_len),
        "protected-mode": "yes" if config.protected_mode else "no",
    }


def with_local_values(config: RouterConfig, values: dict[str, str]) -> RouterConfig:
    """`config` running the router-local parameters of `values` (canonical values)."""
    limits = config.limits
    if "client-query-buffer-limit" in values or "proto-max-bulk-len" in values:
        limits = dataclasses.replace(
            limits,
            max_query_buffer=int(values.get("client-query-buffer-limit", limits.max_query_buffer)),
            max_bulk_len=int(values.get("proto-max-bulk-len", limits.max_bulk_len)),
        )
    changes: dict[str, object] = {"limits": limits}
    if "timeout" in values:
        changes["idle_timeout"] = int(values["timeout"])
    if "maxclients" in values:
        changes["max_clients"] = int(values["maxclients"])
    if "client-output-buffer-limit" in values:
        changes["output_buffer_limits"] = values["client-output-buffer-limit"]
    if "protected-mode" in values:
        changes["protected_mode"] = values["protected-mode"] == "yes"
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def current_values(ctx: RouterContext) -> dict[str, str]:
    """Every parameter's value as CONFIG GET shows it (canonical names)."""
    values = {parameter.name: parameter.default for parameter in PARAMETERS}
    values.update(FIXED_VALUES)
    config = ctx.config
    values["port"] = str(ctx.port)
    values["bind"] = config.host
    values["dir"] = os.getcwd()
    values["requirepass"] = (config.requirepass or b"").decode("latin-1")
    values.update(local_values(config))
    values.update({name: value for name, value in config.tls if name in ROUTER_TLS_PARAMETERS})
    _, cluster = ctx.backend.cluster_settings()
    values.update({name: value for name, value in cluster.items() if name in CLUSTER_PARAMETERS})
    return values


# Redis's updateMaxclients, when the open-files limit cannot grow enough.
TOO_MANY_CLIENTS = (
    "The operating system is not able to handle the specified number of clients, try with %d"
)
UNKNOWN_OPTION = b"ERR Unknown option or number of arguments for CONFIG SET - '%s'"


def _failed(name: bytes | str, reason: str) -> Error:
    shown = name if isinstance(name, bytes) else name.encode("latin-1")
    return Error(
        b"ERR CONFIG SET failed (possibly related to argument '%s') - %s"
        % (shown, reason.encode("latin-1"))
    )


CONFIG_HELP = [
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
]


@answers("config|get")
def config_get(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    """Each parameter matching an exact name (shown as it was asked) or a glob pattern
    (aliases too; hidden parameters only by exact name), once, as Redis 7.0 answers."""
    values = current_values(ctx)
    found: dict[str, tuple[str, str]] = {}  # lower-case name -> (name shown, value)
    for pattern in args[2:]:
        text = pattern.decode("latin-1")
        if not any(char in text for char in "[*?"):
            parameter = lookup(text)
            if parameter is not None and text.lower() not in found:
                found[text.lower()] = (text, values[parameter.name])
            continue
        for name, parameter in all_names():
            if parameter.hidden or name in found:
                continue
            if stringmatch(pattern, name.encode("latin-1"), nocase=True):
                found[name] = (name, values[parameter.name])
    flat: list[Reply] = []
    for shown, value in found.values():
        flat.extend((shown.encode("latin-1"), value.encode("latin-1")))
    return Map(flat)


@answers("config|set", waits=True)
async def config_set(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if len(args) % 2:
        return Error(errors.SYNTAX)
    pairs = [(args[i], args[i + 1]) for i in range(2, len(args), 2)]
    # First the names, in order: the first unknown, immutable or repeated one is the error.
    chosen: list[tuple[str, Parameter, str]] = []
    seen: set[str] = set()
    for raw_name, raw_value in pairs:
        name = raw_name.decode("latin-1")
        parameter = lookup(name)
        if parameter is None:
            return Error(UNKNOWN_OPTION % raw_name)
        if parameter.immutable:
            return _failed(raw_name, "can't set immutable config")
        if parameter.protected:
            return _failed(raw_name, "can't set protected config")
        if name.lower() in seen:
            return _failed(raw_name, "duplicate parameter")
        seen.add(name.lower())
        chosen.append((name.lower(), parameter, raw_value.decode("latin-1")))
    # Then the values, in order, each parsed as Redis parses it.
    values = current_values(ctx)
    pending: dict[str, str] = {}
    for registered, parameter, value in chosen:
        try:
            shown = parameter.parse(value, pending.get(parameter.name, values[parameter.name]))
        except ConfigError as error:
            return _failed(registered, str(error))
        if (
            parameter.name not in CLUSTER_PARAMETERS
            and parameter.name not in ROUTER_PARAMETERS
            and shown != values[parameter.name]
        ):
            return _failed(registered, FIXED_REASONS.get(parameter.name, FIXED_REASON))
        if parameter.name == "maxclients" and int(shown) > ctx.config.max_clients:
            try:  # raises the open-files limit if it can
                fitted = fit_max_clients(int(shown)).max_clients
            except TooFewFiles:
                fitted = ctx.config.max_clients
            if fitted < int(shown):
                return _failed(registered, TOO_MANY_CLIENTS % fitted)
        pending[parameter.name] = shown
    # Proposed even when this router shows the same value: its view may lag a change made
    # through another router, which this SET must then undo.
    cluster = {name: value for name, value in pending.items() if name in CLUSTER_PARAMETERS}
    local = {name: value for name, value in pending.items() if name in ROUTER_PARAMETERS}
    # The cluster-wide half first: if it cannot be made, nothing changes here either.
    if cluster:
        try:
            await ctx.backend.set_cluster_settings(cluster)
        except BackendError as failure:
            return Error(failure.reply)
        ctx.refresh_settings()
    if local:
        ctx.reconfigure(with_local_values(ctx.config, local))
    return OK


@answers("config|resetstat")
def config_resetstat(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    ctx.reset_stats()
    return OK


@answers("config|rewrite")
def config_rewrite(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    path = ctx.config.config_file
    if path is None:
        return OK  # the cluster-wide settings are replicated state already
    values = current_values(ctx)
    wanted = {name: values[name] for name in sorted(ROUTER_PARAMETERS | CLUSTER_PARAMETERS)}
    try:
        text = path.read_bytes().decode("latin-1") if path.exists() else ""
        write_file_atomically(path, rewrite_config_text(text, wanted))
    except OSError as error:
        return Error(b"ERR Rewriting config file: %s" % (error.strerror or str(error)).encode())
    return OK


@answers("config|help")
def config_help(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return help_lines(CONFIG_HELP)
