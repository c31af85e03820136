"""A node that holds its votes because its own WAL had a torn tail (node/identity.py
`suspect_loss`) votes again once a majority of the cluster holds theirs: after a crash of
every node the torn tails are unacknowledged writes, and without this no leader could be
elected. One such node among healthy peers keeps holding (a disk that lied)."""

from __future__ import annotations

from node.identity import NEW, REJOINING, STATE_CODES, VERIFIED, Identity, IdentityKeeper

HOLDING = STATE_CODES[REJOINING]
VOTING = STATE_CODES[VERIFIED]


def suspected_keeper(cluster_size: int = 3) -> IdentityKeeper:
    keeper = IdentityKeeper(cluster_size, Identity(11, VERIFIED, {2: 22, 3: 33}))
    assert keeper.suspect_loss()
    return keeper


def test_alone_among_voting_peers_a_suspected_node_keeps_holding():
    keeper = suspected_keeper()
    keeper.observe(2, 22, VOTING, 11)
    keeper.observe(3, 33, VOTING, 11)
    assert keeper.state == REJOINING and not keeper.may_release_suspicion()


def test_with_a_majority_holding_a_suspected_node_votes_again():
    keeper = suspected_keeper()
    keeper.observe(2, 22, VOTING, 11)
    assert not keeper.may_release_suspicion()
    keeper.observe(3, 33, HOLDING, 11)
    assert keeper.may_release_suspicion()
    assert keeper.override() == REJOINING and keeper.state == VERIFIED


def test_a_node_whose_directory_a_peer_did_not_know_is_not_released_that_way():
    keeper = suspected_keeper()
    keeper.observe(2, 22, HOLDING, 99)  # node 2 knew incarnation 99 here: data lost
    keeper.observe(3, 33, HOLDING, 11)
    assert keeper.state == REJOINING and not keeper.suspected
    assert not keeper.may_release_suspicion()


def test_the_reason_survives_a_restart():
    saved = suspected_keeper().to_save()
    assert saved.suspected and saved.state == REJOINING
    again = IdentityKeeper(3, saved)
    again.observe(2, 22, HOLDING, 11)
    assert again.may_release_suspicion()
    new_node = IdentityKeeper(3, Identity(5, NEW))
    assert not new_node.may_release_suspicion()
