"""How much one command may do: the max-command-work limit, and cheap random draws.

A node executes commands on the event loop that also sends its Raft heartbeats: a command
that runs for a second silences the node for a second, its followers elect a new leader,
and the router sends the same command there. So the work of one command is bounded, and
deterministically (a write is refused the same way on every replica): before doing it, a
command charges its work to the keyspace (`Keyspace.charge`), which refuses with

    ERR command would handle <n> elements, which exceeds max-command-work (<limit>)

and nothing has changed (commands charge before they modify anything). What counts, in
elements (EngineConfig.max_command_work):

- every argument after the command name (ZADD with 100,000 pairs: 200,001);
- every element a command returns, stores, inserts, removes or pops, as a RESP reply would
  list them: a member with its score, a field with its value, count two;
- every element a command walks through in Python to find what it wants (KEYS's pattern
  filter, set algebra over its inputs, ZRANGEBYLEX on a set of several scores, SCAN's
  page);
- elements only compared in a tight loop (LPOS, LREM, LINSERT walking a list) count one
  per COMPARED_PER_ELEMENT: they cost a few dozen nanoseconds each, not a microsecond;
- string bytes a command returns, copies, counts or allocates count one element per
  BYTES_PER_ELEMENT (GET of a 1 MB string: 4,096), so a string far longer than the
  limit allows is read in slices with GETRANGE;
- a member drawn at random from a sorted set counts RANDOM_ZSET_DRAW (and its score one
  more with WITHSCORES); one removed from or moved within a sorted set by ZREM or ZADD
  counts ZSET_REORDER more.

The default (node.engine.config) comes from measuring each command at the limit on the
engine (about a microsecond of CPU per element for the heaviest kinds: sorted-set ranges
and pops, ZADD, DEL of many keys; far less for most) and end to end with
`slotraft bench heavy`.

A read of the SCAN family is never refused: COUNT is a hint, and a page visits at most
what the budget allows (a large index is built a budget at a time, node.engine.scan).
Applied (MULTI/EXEC, scripts, pipelines with writes) it pays for the whole index. A
MULTI/EXEC shares one budget among its commands: the transaction is one entry, applied in
one go on every replica. Not counted: freeing what a command deletes (DEL or FLUSHALL of
millions of elements: about 0.1 s per million on the test machine).
"""

from __future__ import annotations

import random

import numpy as np

# Elements only compared (LPOS, LREM, LINSERT) per element of work.
COMPARED_PER_ELEMENT = 16
# String bytes copied, counted or allocated per element of work: a reply's bytes are
# copied about four times on their way out of a node (RESP, protobuf, its frame): GET of
# a 16 MB string took 50 ms on the test machine (3 ns a byte), a microsecond per 300 bytes.
BYTES_PER_ELEMENT = 256
# A member drawn at random from a sorted set is found by its rank, away from the last
# one: twice the cost of a member of a range (its score, when replied, counts one more).
RANDOM_ZSET_DRAW = 2
# Taking a member out of a sorted set's order one at a time (ZREM, ZADD giving a member a
# new score) costs about three microseconds: this much work per member, besides its
# arguments.
ZSET_REORDER = 2


def work_exceeded(total: int, budget: int, limit: int) -> bytes:
    """The error text when a command's work (`total`, the refused charge included) passes
    its `budget`: the limit itself, or inside MULTI/EXEC what the transaction's earlier
    commands left of it."""
    if budget >= limit:
        return b"ERR command would handle %d elements, which exceeds max-command-work (%d)" % (
            total,
            limit,
        )
    return (
        b"ERR command would handle %d elements, which exceeds what this transaction has "
        b"left of max-command-work (%d of %d)" % (total, budget, limit)
    )


def string_work(length: int) -> int:
    """The work of copying, counting or allocating `length` bytes of a string."""
    return length // BYTES_PER_ELEMENT


def _words(rng: random.Random, count: int) -> np.ndarray:
    """`count` random 64-bit words from `rng`, in one getrandbits call."""
    return np.frombuffer(rng.getrandbits(64 * count).to_bytes(8 * count, "little"), np.uint64)


def random_positions(rng: random.Random, size: int, count: int) -> list[int]:
    """`count` positions drawn uniformly from [0, size), with repetition, from `rng` alone:
    the same positions on every replica that has the same generator. 64 bits per draw
    (reduced modulo `size`: a bias below size / 2**64), so a million draws cost
    milliseconds where a randrange per draw cost a second."""
    if count <= 0:
        return []
    positions: list[int] = (_words(rng, count) % np.uint64(size)).tolist()
    return positions


def distinct_positions(rng: random.Random, size: int, count: int) -> list[int]:
    """`count` distinct positions (count < size) drawn uniformly from [0, size), in random
    order, from `rng` alone. Many draws of the population: the first `count` of a random
    permutation (positions sorted by a random key); few: draws with repetition, keeping
    the first occurrence of each, drawing again for what duplicates took."""
    if count * 2 >= size:
        return np.argsort(_words(rng, size), kind="stable")[:count].tolist()
    drawn = np.empty(0, dtype=np.uint64)
    while True:
        missing = count - len(drawn)
        fresh = _words(rng, missing + missing // 8 + 16) % np.uint64(size)
        drawn = np.concatenate([drawn, fresh])
        _, first = np.unique(drawn, return_index=True)
        if len(first) >= count:
            break
        drawn = drawn[np.sort(first)]
    return drawn[np.sort(first)][:count].tolist()
