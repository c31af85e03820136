"""Entry point of the `slotraft` command. Each subcommand lives in its own module and is
imported only when used, so `slotraft router` does not load the node's code."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module with `add_arguments(parser)` and `run(args) -> int`, help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "node": ("node.main", "run one node (hosts a replica of each of its shards)"),
    "router": (
        "slotraft.router_command",
        "run a router (the RESP endpoint clients connect to)",
    ),
    "up": ("slotraft.up", "start a whole cluster as local processes (the embedded default)"),
    "certs": ("slotraft.certs", "make a cluster CA and TLS certificates (local trials, compose)"),
    "ctl": ("slotraft.ctl", "inspect and operate a running cluster"),
    "bench": ("slotraft.bench", "run a benchmark and print its figures"),
    "import": (
        "slotraft.import_command",
        "copy a Redis data set (a live server or an .rdb file) into slotraft",
    ),
    "chaos": ("chaos.cli", "run workloads under injected faults and check the history"),
}


def build_parser(chosen: str | None) -> argparse.ArgumentParser:
    """All subcommands are listed; only the chosen one's module is imported (its options)."""
    parser = argparse.ArgumentParser(
        prog="slotraft",
        description="A Redis-compatible key-value service on Raft that never loses an "
        "acknowledged write.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(chosen).parse_args(argv)
    try:
        return int(args.module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
