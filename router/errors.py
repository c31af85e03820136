"""The router's own error texts, which are not Redis's (Redis's are in proto.errors)."""

from __future__ import annotations

# A whole-keyspace command cannot be part of a one-shard transaction.
ALL_SHARDS_IN_MULTI = b"CROSSSLOT %s inside MULTI needs every shard; a transaction runs on one"
INTERNAL = b"ERR internal error in the router: %s"
