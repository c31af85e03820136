"""Deterministic simulation of slotraft's Raft core: many nodes and groups in one process,
virtual time, a faulty network and disk, crashes, membership changes, and checkers that run
after every step. `python -m tests.sim --help`."""
