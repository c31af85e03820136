"""Cross-shard transactions: the sans-IO protocol core (docs/CROSS-SHARD.md).

`state.ShardTxnState` is the replicated part of one shard (participant locks and the
coordinator's transaction records): every method is applied from the shard's log, is total
and deterministic, and takes the log's time. `scratch` runs DECIDE's commands, `codec`
carries messages and state as bytes. The router's side of an attempt is
router/xshard_driver.py and the messages are proto/xshard_messages.py. Nothing does I/O.
"""
