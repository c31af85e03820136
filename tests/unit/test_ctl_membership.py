"""slotraft/ctl_membership.py's pure parts: the request an action makes, and the lines
`slotraft ctl status` shows for an operation in flight."""

from __future__ import annotations

import argparse

from node.membership_ops import describe
from proto import slotraft_pb2 as pb
from slotraft.ctl_membership import render_in_flight, request_of


def test_requests_as_the_metadata_entry_holds_them():
    replace = argparse.Namespace(action="replace-node", member=2, new_id=6, address="h:1")
    assert request_of(replace) == {
        "kind": "replace-node",
        "node": 2,
        "new_node": 6,
        "address": "h:1",
    }
    assert request_of(argparse.Namespace(action="rebalance")) == {"kind": "rebalance"}
    # A resumed ctl recognises its operation by this text.
    assert describe(request_of(argparse.Namespace(action="remove-node", member=5))) == (
        "remove-node 5"
    )


def test_status_shows_the_operation_and_the_moves_in_flight():
    replies = [
        pb.MembershipProgressReply(
            node=1,
            in_flight_id="abc",
            in_flight="remove-node 5",
            groups=[
                pb.GroupProgress(group=0, settled=True, voters=[1, 2, 3]),
                pb.GroupProgress(
                    group=2,
                    settled=False,
                    step="learner 4 is catching up",
                    voters=[1, 3, 5],
                    learners=[4],
                    target=[1, 3, 4],
                ),
            ],
        )
    ]
    text = render_in_flight(replies)
    assert text.splitlines() == [
        "operation in flight: remove-node 5",
        "  moving shard 1: learner 4 is catching up (voters 1,3,5, learners 4, target 1,3,4)",
    ]
    assert render_in_flight([pb.MembershipProgressReply(node=1)]) == ""
