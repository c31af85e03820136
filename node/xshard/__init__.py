"""Cross-shard transactions: the sans-IO protocol core (docs/CROSS-SHARD.md).

`state.ShardTxnState` is the replicated part of one shard (participant locks and the
coordinator's transaction records): every method is applied from the shard's log, is total
and deterministic, and takes the log's time. `driver.TxnDriver` is the router's side of one
attempt: it turns replies and timer ticks into messages. Neither does I/O.
"""
