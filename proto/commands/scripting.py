"""Lua scripting (Redis's eval.c): EVAL, EVALSHA, their read-only forms and SCRIPT.

A script runs inside one shard's log entry, on every replica, so its keys must share a
slot as in Redis Cluster. SCRIPT LOAD and FLUSH change every shard's script cache: they go
through each shard's log (WRITE) and the router fans them out.
"""

from __future__ import annotations

from proto.commands.builder import NOSCRIPT, READONLY, WRITE, command
from proto.commands.spec import Merge, Route, numkeys_at

GROUP = "scripting"
# Redis gives its scripting commands these, not @read or @write.
_CATEGORIES = ("@slow", "@scripting")
_KEYS = numkeys_at(2)

COMMANDS = [
    command(
        "eval",
        -3,
        WRITE | NOSCRIPT,
        keys_function=_KEYS,
        group=GROUP,
        acl_categories=_CATEGORIES,
        since="2.6.0",
        complexity="Depends on the script that is executed.",
        summary="Executes a server-side Lua script.",
    ),
    command(
        "evalsha",
        -3,
        WRITE | NOSCRIPT,
        keys_function=_KEYS,
        group=GROUP,
        acl_categories=_CATEGORIES,
        since="2.6.0",
        complexity="Depends on the script that is executed.",
        summary="Executes a server-side Lua script by SHA1 digest.",
    ),
    command(
        "eval_ro",
        -3,
        READONLY | NOSCRIPT,
        keys_function=_KEYS,
        group=GROUP,
        acl_categories=_CATEGORIES,
        since="7.0.0",
        complexity="Depends on the script that is executed.",
        summary="Executes a read-only server-side Lua script.",
    ),
    command(
        "evalsha_ro",
        -3,
        READONLY | NOSCRIPT,
        keys_function=_KEYS,
        group=GROUP,
        acl_categories=_CATEGORIES,
        since="7.0.0",
        complexity="Depends on the script that is executed.",
        summary="Executes a read-only server-side Lua script by SHA1 digest.",
    ),
    command(
        "script",
        -2,
        NOSCRIPT,
        group=GROUP,
        since="2.6.0",
        summary="A container for Lua scripts management commands.",
        subcommands=[
            command(
                "script|load",
                3,
                WRITE | NOSCRIPT,
                group=GROUP,
                acl_categories=_CATEGORIES,
                since="2.6.0",
                complexity="O(N) with N being the length in bytes of the script body.",
                summary="Loads a server-side Lua script to the script cache.",
                route=Route.ALL_SHARDS,
                merge=Merge.ALL_OK,
            ),
            command(
                "script|exists",
                -3,
                READONLY | NOSCRIPT,
                group=GROUP,
                acl_categories=_CATEGORIES,
                since="2.6.0",
                complexity="O(N) with N being the number of scripts to check.",
                summary="Determines whether server-side Lua scripts exist in the script cache.",
                route=Route.ALL_SHARDS,
                merge=Merge.ALL_EXIST,
            ),
            command(
                "script|flush",
                -2,
                WRITE | NOSCRIPT,
                group=GROUP,
                acl_categories=_CATEGORIES,
                since="2.6.0",
                complexity="O(N) with N being the number of scripts in cache",
                summary="Removes all server-side Lua scripts from the script cache.",
                route=Route.ALL_SHARDS,
                merge=Merge.ALL_OK,
            ),
        ],
    ),
]
