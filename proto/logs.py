"""Log lines that say which node and which shard they are about."""

from __future__ import annotations

import logging
import sys


class _Defaults(logging.Filter):
    def __init__(self, node: int | str) -> None:
        super().__init__()
        self.node = node

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "node"):
            record.node = self.node
        if not hasattr(record, "shard"):
            record.shard = "-"
        return True


def configure(role: str, node: int | str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Defaults(node))
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s {role}=%(node)s shard=%(shard)s %(levelname)s %(name)s: %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # gRPC's own debug output drowns ours.
    logging.getLogger("grpc").setLevel(max(logging.INFO, root.level))
