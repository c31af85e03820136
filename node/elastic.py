"""The node's side of membership changes: host the replicas the map places here, let go of
those it moved away, and, where this node leads a group, take the group's Raft membership
towards the map one change at a time (node/membership_steps.py).

Runs from the host's housekeeping loop (never inside a Ready cycle). The map is the
metadata group's, so after a crash of any node the same steps are taken again from what
the logs hold: nothing here is durable of its own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from node.membership_ops import describe, done_command, start_command
from node.membership_steps import MembershipStep, StepKind, next_step
from node.placement import metadata_members
from node.raft import ConfChangeType, HardState, RaftError, RaftNode, RestoredState, Role
from proto import slotraft_pb2 as pb
from proto.topology import METADATA_GROUP, ShardPlacement

if TYPE_CHECKING:
    from node.host import NodeHost

log = logging.getLogger("slotraft.elastic")

# A peer counts as up to date within this many entries of the commit index (writes go on
# while a replica moves; a follower acknowledging as it should is a few entries behind).
UP_TO_DATE_LAG = 64


_CHANGE_NAMES = {
    ConfChangeType.ADD_LEARNER: "add learner",
    ConfChangeType.ADD_VOTER: "add voter",
    ConfChangeType.PROMOTE_LEARNER: "promote learner",
    ConfChangeType.REMOVE_NODE: "remove node",
    ConfChangeType.SET: "set membership",
}


class Elastic:
    def __init__(self, host: NodeHost) -> None:
        self.host = host
        # Hard states of the replicas this node let go of: one added back under the same id
        # must not vote twice in a term it voted in (node/raft/__init__.py, Membership).
        self.released: dict[int, HardState] = {}
        self.last_steps: dict[int, MembershipStep] = {}

    # -- hosting ---------------------------------------------------------------------------

    def reconcile(self) -> bool:
        """Host the map's replicas for this node, drop the ones moved away, learn new
        peers' addresses. Whether anything changed."""
        host = self.host
        cluster = host.cluster_map
        changed = self._learn_peers(cluster.nodes)
        meta = host.metadata
        settled = meta is None or meta.state.membership.current is None
        for placement in cluster.shards:
            hosted = host.shards.get(placement.id)
            if hosted is not None:
                hosted.placement = placement
                continue
            if host.node_id in placement.replicas and placement.group not in host.failed_groups:
                self._host(placement)
                changed = True
        wanted = {p.id for p in cluster.shards if host.node_id in p.replicas}
        for shard_id, replica in list(host.shards.items()):
            if shard_id in wanted:
                continue
            conf = replica.raft.conf
            removed = host.node_id not in conf.voters and host.node_id not in conf.learners
            if removed or settled:
                self._release(shard_id)
                changed = True
        return changed

    def _host(self, placement: ShardPlacement) -> None:
        previous = self.released.pop(placement.group, None)
        restored = (
            RestoredState()
            if previous is None
            else RestoredState(HardState(term=previous.term, vote=previous.vote, commit=0))
        )
        self.host.host_shard(placement, restored)
        log.info(
            "hosting a new replica of shard %d (group %d): it joins as a learner",
            placement.id,
            placement.group,
            extra={"node": self.host.node_id, "shard": placement.id},
        )

    def _release(self, shard_id: int) -> None:
        replica = self.host.shards[shard_id]
        raft = replica.raft
        self.released[replica.group] = HardState(raft.term, raft.vote, 0)
        self.host.release_shard(shard_id)
        log.info(
            "shard %d moved away from this node: replica released",
            shard_id,
            extra={"node": self.host.node_id, "shard": shard_id},
        )

    def _learn_peers(self, nodes: dict[int, str]) -> bool:
        host = self.host
        changed = False
        if host.transport is not None:
            for node_id, address in nodes.items():
                if node_id != host.node_id and node_id not in host.transport.links:
                    host.transport.add_peer(
                        node_id, host.settings.peer_addresses.get(node_id, address)
                    )
                    changed = True
        if host.on_nodes_changed is not None:
            host.on_nodes_changed(frozenset(nodes))
        return changed

    # -- leading ---------------------------------------------------------------------------

    def drive(self) -> bool:
        """Where this node leads a group whose membership is not the map's, take the next
        step. Whether a change or transfer was started."""
        host = self.host
        acted = False
        cluster = host.cluster_map
        meta = host.metadata
        if meta is not None and meta.state.installed and meta.raft.role is Role.LEADER:
            voters, learners = metadata_members(cluster.nodes)
            acted |= self._take(METADATA_GROUP, meta.raft, voters, learners)
        for placement in cluster.shards:
            replica = host.shards.get(placement.id)
            if replica is not None and replica.raft.role is Role.LEADER:
                acted |= self._take(placement.group, replica.raft, placement.replicas, ())
        return acted

    def _take(
        self, group: int, raft: RaftNode, voters: tuple[int, ...], learners: tuple[int, ...]
    ) -> bool:
        step = next_step(raft.status(), voters, learners, lag=UP_TO_DATE_LAG)
        previous = self.last_steps.get(group)
        self.last_steps[group] = step
        try:
            if step.kind is StepKind.CHANGE:
                assert step.change is not None
                raft.propose_conf_change(step.change)
                log.info(
                    "group %d: %s %d",
                    group,
                    _CHANGE_NAMES[step.change.type],
                    step.node,
                    extra={"node": self.host.node_id, "shard": group - 1 if group else "-"},
                )
                return True
            if step.kind is StepKind.TRANSFER:
                raft.transfer_leader(step.node)
                if previous != step:
                    log.info(
                        "group %d: this node leaves it; leadership to node %d",
                        group,
                        step.node,
                        extra={"node": self.host.node_id, "shard": group - 1 if group else "-"},
                    )
                return True
        except RaftError:
            pass  # a change not yet committed, a transfer under way: the next round
        return False

    # -- operations -------------------------------------------------------------------------

    async def change(
        self, request: pb.MembershipChangeRequest, timeout: float = 5.0
    ) -> pb.MembershipChangeReply:
        """Start or finish an operation through the metadata group (its leader only) and
        wait until the entry applied here."""
        host = self.host
        meta = host.metadata
        assert meta is not None
        if meta.raft.role is not Role.LEADER or not meta.current:
            return pb.MembershipChangeReply(leader=meta.raft.leader)
        entry_id = request.id[:64]
        if not entry_id:
            return pb.MembershipChangeReply(applied=True, error="an operation needs an id")
        if request.finish:
            data = done_command(entry_id)
        else:
            fields: dict[str, object] = {"kind": request.kind}
            if request.node:
                fields["node"] = request.node
            if request.new_node:
                fields["new_node"] = request.new_node
            if request.address:
                fields["address"] = request.address
            status = meta.raft.status()
            down = sorted(
                peer
                for peer, progress in status.peers.items()
                if progress.state != "replicate" or progress.match + UP_TO_DATE_LAG < status.commit
            )
            data = start_command(entry_id, fields, request.epoch, down)
        outcomes = meta.state.membership.outcomes
        outcomes.pop(entry_id, None)
        try:
            meta.raft.propose(data)
        except RaftError as error:
            return pb.MembershipChangeReply(leader=meta.raft.leader, error=str(error))
        host.wake()
        deadline = host.loop.time() + timeout
        while entry_id not in outcomes:
            if host.loop.time() > deadline:
                return pb.MembershipChangeReply(error="not applied in time; try again")
            await asyncio.sleep(0.02)
        return pb.MembershipChangeReply(
            applied=True, error=outcomes[entry_id], epoch=host.cluster_map.epoch
        )

    # -- progress --------------------------------------------------------------------------

    def progress(self) -> pb.MembershipProgressReply:
        host = self.host
        cluster = host.cluster_map
        reply = pb.MembershipProgressReply(node=host.node_id, epoch=cluster.epoch)
        meta = host.metadata
        if meta is not None:
            current = meta.state.membership.current
            if current is not None:
                reply.in_flight_id = current.id
                reply.in_flight = describe(current.request)
            if meta.raft.role is Role.LEADER:
                voters, learners = metadata_members(cluster.nodes)
                reply.groups.append(_group_progress(METADATA_GROUP, meta.raft, voters, learners))
        for placement in cluster.shards:
            replica = host.shards.get(placement.id)
            if replica is not None and replica.raft.role is Role.LEADER:
                reply.groups.append(
                    _group_progress(placement.group, replica.raft, placement.replicas, ())
                )
        return reply


def _group_progress(
    group: int, raft: RaftNode, voters: tuple[int, ...], learners: tuple[int, ...]
) -> pb.GroupProgress:
    status = raft.status()
    step = next_step(status, voters, learners, lag=UP_TO_DATE_LAG)
    pending = raft._pending_conf_index > status.commit
    if step.kind is StepKind.CHANGE and step.change is not None:
        what = f"{_CHANGE_NAMES[step.change.type]} {step.node}"
    elif step.kind is StepKind.TRANSFER:
        what = f"hand leadership to {step.node}"
    else:
        what = step.reason or step.kind.value
    members = (*status.conf.voters, *status.conf.learners)
    matches = [status.peers[m].match for m in members if m in status.peers]
    return pb.GroupProgress(
        group=group,
        settled=step.kind is StepKind.SETTLED and not pending,
        step=what,
        voters=list(status.conf.voters),
        learners=list(status.conf.learners),
        target=list(voters),
        commit=status.commit,
        slowest_match=min(matches, default=status.commit),
    )
