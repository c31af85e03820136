"""maxclients against the open-files limit, as Redis's adjustOpenFilesLimit (server.c): a
router needs maxclients descriptors plus a reserve of 32 for itself (listening sockets,
links to the nodes, log files). If the soft RLIMIT_NOFILE is lower it raises it when it
can (trying lower values down to what it has, 16 at a time, as Redis); if it still does
not fit, maxclients is lowered to the limit minus the reserve, with Redis's warnings."""

from __future__ import annotations

import logging
import resource
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("slotraft.router")

MIN_RESERVED_FDS = 32  # CONFIG_MIN_RESERVED_FDS
_STEP = 16  # Redis's decrement while looking for a limit the OS accepts

GetLimit = Callable[[], tuple[int, int]]
SetLimit = Callable[[tuple[int, int]], None]


def _get() -> tuple[int, int]:
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _set(limits: tuple[int, int]) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)


class TooFewFiles(Exception):
    """Not even one client fits: Redis refuses to start."""


@dataclass(frozen=True, slots=True)
class Fitted:
    max_clients: int
    open_files: int  # the soft limit in force afterwards
    warnings: tuple[str, ...] = ()


def fit_max_clients(max_clients: int, get: GetLimit = _get, set_: SetLimit = _set) -> Fitted:
    """The maxclients that fits the open-files limit, raising the limit first if it can."""
    wanted = max_clients + MIN_RESERVED_FDS
    soft, hard = get()
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return Fitted(max_clients, soft)
    best = wanted
    error: OSError | ValueError | None = None
    while best > soft:
        # The hard limit too (root may raise it); never below what it already is.
        keep_hard = hard == resource.RLIM_INFINITY or hard > best
        try:
            set_((best, hard if keep_hard else best))
            break
        except (OSError, ValueError) as failure:
            error = failure
            best -= _STEP
    else:
        best = soft
    if best >= wanted:
        return Fitted(max_clients, best)
    fitted = best - MIN_RESERVED_FDS
    if fitted < 1:
        raise TooFewFiles(
            f"Your current 'ulimit -n' of {soft} is not enough for the server to start. "
            f"Please increase your open file limit to at least {wanted}. Exiting."
        )
    warnings = [
        f"You requested maxclients of {max_clients} requiring at least {wanted} max file "
        "descriptors."
    ]
    if error is not None:
        warnings.append(
            f"Server can't set maximum open files to {wanted} because of OS error: {error}."
        )
    warnings.append(
        f"Current maximum open files is {best}. maxclients has been reduced to {fitted} to "
        "compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'."
    )
    return Fitted(fitted, best, tuple(warnings))


def fit_and_log(max_clients: int) -> int:
    """fit_max_clients on this process, its warnings logged (SystemExit if no client fits)."""
    try:
        fitted = fit_max_clients(max_clients)
    except TooFewFiles as error:
        raise SystemExit(f"router: {error}") from None
    for warning in fitted.warnings:
        log.warning("%s", warning)
    return fitted.max_clients
