"""A client session: one redis-py connection to a router, recording every command it sends
in the run's history with what its outcome tells.

Outcomes:
- a reply: ok;
- an error reply that proves the command had no effect (a type or syntax error): fail;
- any other error reply (-CLUSTERDOWN after the router's retries, -TRYAGAIN, ...): the
  router may have proposed the write, which may still commit: info for a write; a read
  has no effect either way, so fail;
- no reply (timeout, dropped connection): info.

After an indeterminate outcome the session takes a new process id and a new connection,
as in Jepsen: the old process may still have a command in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chaos.history import FAIL, INFO, OK, History

Command = Callable[[redis.Redis], Any]

# Replies that come from the engine refusing the command: it changed nothing.
_NO_EFFECT_ERRORS = (
    "WRONGTYPE",
    "ERR syntax error",
    "ERR wrong number of arguments",
    "ERR value is not",
    "ERR unknown command",
    "CROSSSLOT",
)


def outcome_of_error(error: Exception, writes: bool) -> str:
    if isinstance(error, redis.ResponseError):
        text = str(error)
        if not writes or text.startswith(_NO_EFFECT_ERRORS):
            return FAIL
    return INFO


class Session:
    def __init__(
        self,
        history: History,
        workload: str,
        endpoint: tuple[str, int],
        process: int,
        process_stride: int,
        timeout: float,
        password: str | None = None,
    ) -> None:
        self.history = history
        self.workload = workload
        self.endpoint = endpoint
        self.process = process
        self.process_stride = process_stride
        self.timeout = timeout
        self.password = password
        self.client = self._connect()
        self._serial = 0
        # What this client last learnt about its keys (a workload's own bookkeeping).
        self.memory: dict[str, Any] = {}

    def _connect(self) -> redis.Redis:
        host, port = self.endpoint
        return redis.Redis(
            host=host,
            port=port,
            password=self.password,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            # A resent command would be a second, different request to the router: the
            # history must see each command exactly as sent, so redis-py must not retry.
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )

    def unique(self) -> str:
        """A value no other operation of the run sends."""
        self._serial += 1
        return f"p{self.process}.{self._serial}"

    def call(
        self,
        f: str,
        key: str,
        value: Any,
        command: Command,
        writes: bool,
        convert: Callable[[Any], Any] = lambda reply: reply,
    ) -> tuple[str, Any]:
        index = self.history.invoke(self.process, self.workload, f, key, value)
        try:
            result: Any = convert(command(self.client))
            outcome = OK
        except (redis.RedisError, OSError) as error:
            outcome = outcome_of_error(error, writes)
            result = f"{type(error).__name__}: {error}"
        except Exception as error:  # a reply of an unexpected shape: say so, then fail loudly
            self.history.complete(index, INFO, f"unexpected reply: {error!r}")
            self.crash()
            raise
        self.history.complete(index, outcome, result)
        if outcome == INFO:
            self.crash()
        return outcome, result

    def crash(self) -> None:
        """Forget the connection that may still carry a command; continue as a new process."""
        self.client.close()
        self.process += self.process_stride
        self._serial = 0
        self.client = self._connect()

    def close(self) -> None:
        self.client.close()
        for kept in self.memory.values():  # a workload's own connections (pub/sub's)
            close = getattr(kept, "close", None)
            if callable(close):
                close()
