"""The `slotraft` command: node, router, up, ctl, bench, chaos."""
