"""COMMAND and its subcommands, answered by the router and rendered from the one command
table (proto.commands)."""

from __future__ import annotations

from proto import errors
from proto.commands import COMMANDS, TABLE, CommandSpec, Flag
from proto.glob import stringmatch
from proto.resp import Error, Map, Reply, SetReply, Simple
from router.connection import ClientState
from router.context import RouterContext
from router.local_commands import answers, help_lines

_FLAG_NAMES = [
    (Flag.WRITE, b"write"),
    (Flag.READONLY, b"readonly"),
    (Flag.DENYOOM, b"denyoom"),
    (Flag.ADMIN, b"admin"),
    (Flag.PUBSUB, b"pubsub"),
    (Flag.NOSCRIPT, b"noscript"),
    (Flag.BLOCKING, b"blocking"),
    (Flag.LOADING, b"loading"),
    (Flag.STALE, b"stale"),
    (Flag.FAST, b"fast"),
    (Flag.NO_AUTH, b"no_auth"),
    (Flag.NO_MULTI, b"no_multi"),
]

COMMAND_HELP = [
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all commands.",
    "COUNT",
    "    Return the total number of commands in this server.",
    "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
    "    Return a list of all commands in this server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full command.",
    "HELP",
    "    Print this help.",
]


def _key_specs(spec: CommandSpec) -> list[Map]:
    if spec.first_key == 0 and spec.keys_function is None:
        return []
    if spec.flags & Flag.PUBSUB:  # shard channels: named like keys, hashed like keys
        access = [Simple(b"not_key")]
    elif spec.flags & Flag.WRITE:
        access = [Simple(b"RW"), Simple(b"update")]
    else:
        access = [Simple(b"RO"), Simple(b"access")]
    if spec.keys_function is not None:
        begin = Map([b"type", b"unknown", b"spec", Map([])])
        find = Map([b"type", b"unknown", b"spec", Map([])])
    else:
        last = spec.last_key - spec.first_key if spec.last_key >= 0 else spec.last_key
        begin = Map([b"type", b"index", b"spec", Map([b"index", spec.first_key])])
        find = Map(
            [
                b"type",
                b"range",
                b"spec",
                Map([b"lastkey", last, b"keystep", spec.key_step, b"limit", 0]),
            ]
        )
    return [Map([b"flags", SetReply(access), b"begin_search", begin, b"find_keys", find])]


def command_info(spec: CommandSpec) -> list:
    flags = [name for flag, name in _FLAG_NAMES if spec.flags & flag]
    if spec.keys_function is not None:
        flags.append(b"movablekeys")
    return [
        spec.name.encode(),
        spec.arity,
        SetReply([Simple(flag) for flag in flags]),
        spec.first_key,
        spec.last_key,
        spec.key_step,
        SetReply([Simple(category.encode()) for category in spec.acl_categories]),
        SetReply([]),
        _key_specs(spec),
        [command_info(sub) for sub in spec.subcommands.values()],
    ]


def command_docs(spec: CommandSpec) -> Map:
    fields: list = [
        b"summary",
        spec.summary.encode(),
        b"since",
        spec.since.encode(),
        b"group",
        spec.group.encode(),
        b"complexity",
        spec.complexity.encode(),
    ]
    if spec.subcommands:
        subcommands: list = []
        for sub in spec.subcommands.values():
            subcommands.extend((sub.name.encode(), command_docs(sub)))
        fields.extend((b"subcommands", Map(subcommands)))
    return Map(fields)


def _lookup_full(name: bytes) -> CommandSpec | None:
    """A command or a container's subcommand given as 'container|sub'."""
    container, _, sub = name.partition(b"|")
    spec = COMMANDS.lookup(container)
    if spec is None or not sub:
        return spec
    return COMMANDS.subcommand(spec, sub)


@answers("command")
def command_all(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return [command_info(spec) for spec in TABLE.values()]


@answers("command|count")
def command_count(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return len(TABLE)


@answers("command|info")
def command_info_command(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if len(args) == 2:
        return command_all(ctx, client, args)
    found = [_lookup_full(name) for name in args[2:]]
    return [command_info(spec) if spec is not None else None for spec in found]


@answers("command|docs")
def command_docs_command(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    specs = list(TABLE.values()) if len(args) == 2 else [_lookup_full(n) for n in args[2:]]
    flat: list = []
    for spec in specs:
        if spec is not None:
            flat.extend((spec.name.encode(), command_docs(spec)))
    return Map(flat)


@answers("command|list")
def command_list(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    names = [spec.name.encode() for spec in TABLE.values()]
    if len(args) == 2:
        return names
    if len(args) != 5 or args[2].lower() != b"filterby":
        return Error(errors.SYNTAX)
    kind, value = args[3].lower(), args[4]
    if kind == b"module":
        return []
    if kind == b"aclcat":
        category = b"@" + value.lower()
        return [
            spec.name.encode()
            for spec in TABLE.values()
            if category in [c.lower().encode() for c in spec.acl_categories]
        ]
    if kind == b"pattern":
        matched: list[bytes] = []
        for spec in TABLE.values():
            candidates = [spec, *spec.subcommands.values()]
            matched.extend(
                item.name.encode()
                for item in candidates
                if stringmatch(value, item.name.encode(), nocase=True)
            )
        return matched
    return Error(errors.SYNTAX)


@answers("command|getkeys")
def command_getkeys(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    target = args[2:]
    # Not resolve(): COMMAND GETKEYS checks for keys before the number of arguments.
    spec = COMMANDS.lookup(target[0])
    if spec is not None and spec.subcommands and len(target) >= 2:
        spec = COMMANDS.subcommand(spec, target[1])
    if spec is None:
        return Error(b"ERR Invalid command specified")
    if spec.first_key == 0 and spec.keys_function is None:
        return Error(b"ERR The command has no key arguments")
    if not spec.arity_ok(len(target)):
        return Error(b"ERR Invalid number of arguments specified for command")
    keys = spec.keys(target)
    if not keys:
        return Error(b"ERR Invalid arguments specified for command")
    return keys


@answers("command|help")
def command_help(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return help_lines(COMMAND_HELP)
