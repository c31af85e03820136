"""Benchmarks, one module each, run by `slotraft bench NAME`."""
