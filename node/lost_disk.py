"""The node's shell around its IdentityKeeper (node/identity.py): loads the identity before
the WAL exists, holds or releases the votes of every replica, checks each Raft batch's
header, and saves the identity on the writer thread when it changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from node.identity import (
    NEW,
    REJOINING,
    VERIFIED,
    IdentityKeeper,
    load_identity,
    save_identity,
)
from node.raft import MultiRaft, VoteHold
from node.transport import BatchHeader

log = logging.getLogger("slotraft.node")

DiskRunner = Callable[..., Awaitable[object]]


class LostDiskGuard:
    def __init__(self, node_id: int, data_dir: Path, cluster_size: int) -> None:
        self.node_id = node_id
        self.data_dir = data_dir
        self.cluster_size = cluster_size
        self.keeper: IdentityKeeper | None = None
        self.multi: MultiRaft | None = None
        self._run_on_disk: DiskRunner | None = None
        self._announce: Callable[[], None] = lambda: None
        self._wake: Callable[[], None] = lambda: None
        self._saving: asyncio.Task | None = None
        self._save_again = False

    async def load(self, had_data: bool) -> None:
        """Read (or create, durably) the identity; call before the WAL is opened."""
        loop = asyncio.get_running_loop()
        identity = await loop.run_in_executor(None, load_identity, self.data_dir, had_data)
        self.keeper = IdentityKeeper(self.cluster_size, identity)
        if identity.state == NEW:
            self._log(logging.INFO, "new data directory: votes held until the peers confirm it")
        elif identity.state == REJOINING:
            self._log(logging.WARNING, "still rejoining after lost data: votes held")

    def storage_suspects_loss(self, findings: list[str]) -> None:
        """Storage found signs that this node may hold less than it had acknowledged (a
        torn WAL tail cut, ...: node/storage/recovery.py). Called on the thread that opens
        the storage, after `load` and before it repairs anything: the node rejoins as after
        a lost disk, and that is durable before the evidence is gone. Raises if it cannot
        be saved (the node does not start)."""
        keeper = self.keeper
        assert keeper is not None
        for finding in findings:
            self._log(logging.WARNING, "storage: %s", finding)
        if keeper.suspect_loss():
            identity = keeper.to_save()
            save_identity(self.data_dir, identity)
            keeper.saved(identity)
            self._log(
                logging.WARNING,
                "this node may have lost entries it had acknowledged: it rejoins without "
                "voting or leading until each of its replicas has caught up",
            )

    def start(
        self,
        multi: MultiRaft,
        run_on_disk: DiskRunner,
        announce: Callable[[], None],
        wake: Callable[[], None],
    ) -> None:
        """The replicas exist: hold their votes as the identity's state says."""
        assert self.keeper is not None
        self.multi = multi
        self._run_on_disk = run_on_disk
        self._announce = announce
        self._wake = wake
        if self.keeper.state == NEW:
            multi.hold_votes(VoteHold.UNTIL_RELEASED)
            if self.keeper.verifying:  # no peer to ask
                self._save()
        elif self.keeper.state == REJOINING:
            multi.hold_votes(VoteHold.UNTIL_CAUGHT_UP)

    def header(self, peer: int) -> tuple[int, int, int]:
        assert self.keeper is not None
        return self.keeper.header(peer)

    def admit(self, header: BatchHeader) -> bool:
        """Whether the batch's messages may be stepped."""
        keeper = self.keeper
        assert keeper is not None and self.multi is not None
        seen = keeper.observe(
            header.from_node, header.incarnation, header.state, header.about_receiver
        )
        if seen.lost:
            self._log(
                logging.WARNING,
                "node %d knew another data directory under this id (incarnation %d, this one "
                "%d): this node's data was lost. It rejoins without voting or leading until "
                "each of its replicas has caught up",
                header.from_node,
                header.about_receiver,
                keeper.incarnation,
            )
            self.multi.hold_votes(VoteHold.UNTIL_CAUGHT_UP)
            self._announce()
        elif keeper.may_release_suspicion():
            self._log(
                logging.WARNING,
                "a majority of the nodes hold their votes (node %d among them): as after a "
                "crash of every node, the torn tail found here is taken for writes that were "
                "never acknowledged, and this node votes again",
                header.from_node,
            )
            self._release()
        if seen.write:
            self._save()
        return seen.accept

    def check_caught_up(self) -> None:
        """Called now and then: a rejoining node whose replicas all caught up is whole again."""
        keeper = self.keeper
        if keeper is None or self.multi is None or keeper.state != REJOINING:
            return
        if not self.multi.votes_held() and keeper.caught_up():
            self._log(logging.INFO, "every replica caught up after lost data: votes released")
            self._save()
            self._announce()

    def release_by_operator(self) -> str:
        """Vote again now (an operator's decision, e.g. when the peer that holds the data
        is gone for good); the previous state."""
        previous = self._release()
        if previous != VERIFIED:
            self._log(
                logging.WARNING,
                "votes released by an operator (was %s): this node's data is trusted as it is",
                previous,
            )
        return previous

    def _release(self) -> str:
        """Trust this directory as it is and vote again; the previous state."""
        keeper = self.keeper
        assert keeper is not None and self.multi is not None
        previous = keeper.override()
        if previous != VERIFIED:
            self.multi.hold_votes(VoteHold.NONE)
            self._save()
            self._announce()
            self._wake()
        return previous

    @property
    def state(self) -> str:
        return self.keeper.state if self.keeper is not None else NEW

    def _save(self) -> None:
        if self._saving is not None and not self._saving.done():
            self._save_again = True
            return
        self._saving = asyncio.get_running_loop().create_task(self._save_loop())

    async def _save_loop(self) -> None:
        keeper = self.keeper
        assert keeper is not None and self._run_on_disk is not None and self.multi is not None
        while True:
            self._save_again = False
            identity = keeper.to_save()
            try:
                await self._run_on_disk(save_identity, self.data_dir, identity)
            except OSError as error:
                # Peers' messages stay unstepped and votes held until a save succeeds.
                self._log(logging.ERROR, "cannot save the node identity: %s", error)
                await asyncio.sleep(1.0)
                self._save_again = True
            else:
                if keeper.saved(identity):
                    self._log(logging.INFO, "new data directory confirmed by the peers")
                    self.multi.hold_votes(VoteHold.NONE)
                    self._announce()
                self._wake()
            if not self._save_again:
                return

    def _log(self, level: int, message: str, *args: object) -> None:
        log.log(level, message, *args, extra={"node": self.node_id, "shard": "-"})
