"""`slotraft chaos`: run workloads against a cluster while killing, pausing, restarting and
partitioning its nodes, check the history, write a report; exit 1 on any anomaly, 2 when
a check could not decide, 3 when the run could not proceed (the cluster never served).

  slotraft chaos --target local --time 60 --report-dir chaos-report
  slotraft chaos --target local --time 600 --report-dir long --nemesis mixed
  slotraft chaos --target compose --time 300 --report-dir compose-run
  slotraft chaos --target local --network netns --time 60 --report-dir netns   # as root
  slotraft chaos --target local --time 30 --report-dir unsafe \\
      --unsafe wipe-data-on-start --nemesis kill-all        # must report anomalies
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from chaos import runner
from chaos.nemesis import FAULTS, MIXED, NONE, expand
from chaos.runner import RunSettings
from chaos.targets.base import Target
from chaos.targets.compose import DEFAULT_COMPOSE_FILE, ComposeTarget
from chaos.targets.local import NETWORK_MODES, UNSAFE_WIPE, LocalTarget
from chaos.workloads import WORKLOADS, WorkloadSettings

RUN_FAILED = 3  # exit status when the run could not check anything (0, 1, 2: see runner)

UNSAFE_WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!  UNSAFE MODE: --unsafe {mode}
!!  The nodes forget ALL their data every time they start, acknowledged writes included.
!!  This exists only to show that the checkers catch lost writes: expect anomalies.
!!  Never point this at a cluster whose data matters.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


def _range(text: str) -> tuple[float, float]:
    low, separator, high = text.partition("-")
    try:
        bounds = (float(low), float(high if separator else low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW-HIGH seconds, not {text!r}") from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"expected 0 <= LOW <= HIGH, not {text!r}")
    return bounds


def _split(values: list[str]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--target", choices=["local", "compose"], default="local")
    parser.add_argument(
        "--time", type=float, default=60.0, help="seconds of faults (60); then heal and recover"
    )
    parser.add_argument("--report-dir", type=Path, required=True, help="where the report goes")
    parser.add_argument(
        "--workload",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help=f"workloads to run (default: all): {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--nemesis",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help=f"faults to inject (default: {MIXED}): {', '.join((*FAULTS, MIXED, NONE))}",
    )
    parser.add_argument("--clients", type=int, default=4, help="client threads per workload (4)")
    parser.add_argument("--keys", type=int, default=3, help="keys per workload (3)")
    parser.add_argument(
        "--fault-seconds", type=_range, default=(2.0, 8.0), help="how long a fault lasts (2-8)"
    )
    parser.add_argument(
        "--quiet-seconds", type=_range, default=(1.0, 4.0), help="time between faults (1-4)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the random choices")
    parser.add_argument(
        "--client-timeout",
        type=float,
        default=None,
        help="seconds a client waits for a reply before its outcome is unknown "
        "(default: the routers' retry time + 7)",
    )
    parser.add_argument(
        "--retry-seconds",
        type=float,
        default=8.0,
        help="local target: the routers' --retry-seconds (8)",
    )
    parser.add_argument(
        "--check-seconds",
        type=float,
        default=120.0,
        help="time budget of the linearizability search (120); past it the verdict is unknown",
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="run nothing: check the history.json in --report-dir again and rewrite the report",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="local target: the cluster's data directory (default: a new temporary one)",
    )
    parser.add_argument(
        "--network",
        choices=NETWORK_MODES,
        default="proxy",
        help="local target: how links are cut. proxy (default): node-to-node links through "
        "TCP proxies of this process, routers always reach every node; netns: every node in "
        "its own network namespace, links cut with iptables, partitions separate routers "
        "from nodes too (needs root and the `ip` and `iptables` commands)",
    )
    parser.add_argument(
        "--compose-file", type=Path, default=DEFAULT_COMPOSE_FILE, help="compose target's file"
    )
    parser.add_argument("--compose-project", default=None, help="compose project name")
    parser.add_argument(
        "--password",
        default=os.environ.get("SLOTRAFT_PASSWORD") or None,
        help="router password (default: env SLOTRAFT_PASSWORD)",
    )
    parser.add_argument(
        "--wal-segment-mb",
        type=int,
        default=4,
        help="local target: the nodes' WAL segment size in MiB (default 4, not the nodes' 64, "
        "so that a run of minutes rotates segments and deletes them under the faults)",
    )
    parser.add_argument(
        "--unsafe",
        choices=[UNSAFE_WIPE],
        default=None,
        help="local target only: start the nodes in a deliberately unsafe mode that loses "
        "acknowledged writes, to show that the checkers catch it (default nemesis then: "
        "kill-all). Only ever used when named here",
    )


def make_target(args: argparse.Namespace) -> Target:
    if args.target == "compose":
        return ComposeTarget(args.compose_file, args.compose_project, password=args.password)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="slotraft-chaos-"))
    return LocalTarget(
        data_dir,
        retry_seconds=args.retry_seconds,
        unsafe=args.unsafe,
        network=args.network,
        wal_segment_mb=args.wal_segment_mb,
    )


def settings_from(args: argparse.Namespace, target: Target) -> RunSettings:
    workloads = _split(args.workload) or list(WORKLOADS)
    unknown = [name for name in workloads if name not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    nemesis = _split(args.nemesis) or (["kill-all"] if args.unsafe else [MIXED])
    try:
        faults = expand(nemesis, target)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    retry = args.retry_seconds if args.target == "local" else 15.0
    return RunSettings(
        time_s=args.time,
        workloads=workloads,
        faults=faults,
        clients=args.clients,
        seed=args.seed if args.seed is not None else random.randrange(1 << 32),
        fault_seconds=args.fault_seconds,
        quiet_seconds=args.quiet_seconds,
        client_timeout_s=args.client_timeout or retry + 7,
        check_budget_s=args.check_seconds,
        # The compose target finds the routers' password in deploy/.env when none is given.
        password=args.password or getattr(target, "password", None),
        workload=WorkloadSettings(keys=args.keys),
        unsafe=args.unsafe,
    )


def refuse_netns(args: argparse.Namespace) -> None:
    """SystemExit when --network netns cannot work, before anything starts."""
    if args.target != "local":
        raise SystemExit(
            f"--network netns exists for the local target only; the {args.target} target "
            "cuts links its own way"
        )
    if os.geteuid() != 0:
        raise SystemExit(
            "--network netns needs root: it creates network namespaces, a bridge and "
            "iptables rules (run it as root, or use --network proxy)"
        )
    missing = [command for command in ("ip", "iptables") if shutil.which(command) is None]
    if missing:
        raise SystemExit(f"--network netns needs the {' and '.join(missing)} command(s)")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the runner, which stops the cluster


def run(args: argparse.Namespace) -> int:
    if args.recheck:
        outcome = runner.recheck(args.report_dir, args.check_seconds)
        print(outcome.summary, flush=True)
        return outcome.exit_status
    if args.unsafe and args.target != "local":
        raise SystemExit("--unsafe exists for the local target only")
    if args.network == "netns":
        refuse_netns(args)
    if args.unsafe:
        print(UNSAFE_WARNING.format(mode=args.unsafe), file=sys.stderr, flush=True)
        time.sleep(1)
    signal.signal(signal.SIGTERM, _terminate)
    target = make_target(args)
    settings = settings_from(args, target)
    print(
        f"chaos: target {args.target}, {settings.time_s:.0f}s of faults "
        f"({', '.join(settings.faults) or 'none'}), workloads {', '.join(settings.workloads)}, "
        f"seed {settings.seed}; report in {args.report_dir}",
        file=sys.stderr,
        flush=True,
    )
    try:
        outcome = runner.run(target, settings, args.report_dir, sys.stderr, sys.stderr.isatty())
    except (RuntimeError, TimeoutError, OSError) as error:
        # The cluster never served, or a fault could not be undone: nothing was checked.
        print(f"chaos: the run could not proceed: {error}", file=sys.stderr)
        return RUN_FAILED
    print(outcome.summary, flush=True)
    if isinstance(target, LocalTarget) and args.data_dir is None:
        tidy_data_dir(target.data_dir, args.report_dir, keep=outcome.exit_status != 0)
    return outcome.exit_status


def tidy_data_dir(data_dir: Path, report_dir: Path, keep: bool) -> None:
    """The processes' logs go with the report; the temporary data directory is removed
    unless the run found something (then its WAL and snapshots are evidence)."""
    logs = data_dir / "logs"
    if logs.is_dir():
        shutil.copytree(logs, report_dir / "logs", dirs_exist_ok=True)
    if keep:
        print(f"chaos: the cluster's data is kept in {data_dir}", file=sys.stderr)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
