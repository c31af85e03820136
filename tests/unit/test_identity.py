"""Lost-disk detection (node/identity.py): what a node decides from its peers' headers."""

from __future__ import annotations

import json

import pytest

from node.identity import (
    NEW,
    REJOINING,
    STATE_CODES,
    VERIFIED,
    Identity,
    IdentityKeeper,
    load_identity,
    save_identity,
)
from node.storage.errors import StorageError

NEW_CODE, VERIFIED_CODE, REJOINING_CODE = (STATE_CODES[s] for s in (NEW, VERIFIED, REJOINING))


def keeper(state: str, peers: dict[int, int] | None = None, size: int = 3) -> IdentityKeeper:
    return IdentityKeeper(size, Identity(100, state, dict(peers or {})))


def save(k: IdentityKeeper) -> bool:
    """Pretend the write of what the keeper asks to save completed."""
    return k.saved(k.to_save())


def test_a_new_directory_is_confirmed_by_a_majority_that_knows_no_other():
    k = keeper(NEW, size=5)
    seen = k.observe(2, 200, NEW_CODE, 0)
    assert not seen.lost and not seen.accept  # a NEW peer is not recorded nor stepped
    assert k.state == NEW
    seen = k.observe(3, 300, VERIFIED_CODE, 0)
    assert seen.write and not seen.accept  # its record must be saved first
    assert k.to_save().state == VERIFIED  # three of five: confirmed, once saved
    assert k.state == NEW  # votes stay held until then
    assert save(k) is True
    assert k.state == VERIFIED
    assert k.observe(3, 300, VERIFIED_CODE, 0).accept
    assert k.header(3) == (100, VERIFIED_CODE, 300)
    assert k.header(2) == (100, VERIFIED_CODE, 0)  # never recorded while NEW


def test_a_one_node_cluster_confirms_its_new_directory_alone():
    k = keeper(NEW, size=1)
    assert k.to_save().state == VERIFIED
    assert save(k) is True


def test_a_peer_that_knew_another_incarnation_means_the_data_was_lost():
    k = keeper(NEW)
    seen = k.observe(2, 200, VERIFIED_CODE, 99)
    assert seen.lost and seen.write and not seen.accept
    assert k.state == REJOINING
    assert k.to_save() == Identity(100, REJOINING, {2: 200})
    assert save(k) is False  # saving REJOINING releases nothing
    assert k.observe(2, 200, VERIFIED_CODE, 99).accept  # not lost twice
    assert k.caught_up() is True
    assert k.state == VERIFIED and k.to_save().state == VERIFIED
    assert k.caught_up() is False


def test_confirmations_then_a_mismatch_still_rejoin():
    k = keeper(NEW)
    k.observe(2, 200, VERIFIED_CODE, 0)
    saving = k.to_save()
    assert saving.state == VERIFIED
    assert k.observe(3, 300, VERIFIED_CODE, 42).lost
    assert k.saved(saving) is False  # the write that said VERIFIED no longer releases
    assert k.state == REJOINING
    assert k.to_save().state == REJOINING


def test_a_verified_node_told_of_another_incarnation_rejoins_again():
    k = keeper(VERIFIED, {2: 200})
    assert k.observe(2, 200, VERIFIED_CODE, 100).accept
    seen = k.observe(2, 200, VERIFIED_CODE, 7)
    assert seen.lost and seen.accept
    assert k.state == REJOINING


def test_a_peer_with_a_new_incarnation_is_stepped_only_once_recorded():
    k = keeper(VERIFIED, {2: 200})
    # Wiped: NEW, it must still hear our old record of it, and is not stepped.
    seen = k.observe(2, 201, NEW_CODE, 0)
    assert not seen.accept and not seen.write
    assert k.header(2) == (100, VERIFIED_CODE, 200)
    # Rejoining: recorded (saved first), then stepped.
    seen = k.observe(2, 201, REJOINING_CODE, 100)
    assert not seen.accept and seen.write
    assert not k.observe(2, 201, REJOINING_CODE, 100).write  # one write asked for
    assert save(k) is False
    assert k.observe(2, 201, REJOINING_CODE, 100).accept
    assert k.header(2) == (100, VERIFIED_CODE, 201)


def test_an_operator_override_trusts_the_directory_as_it_is():
    k = keeper(NEW)
    k.observe(2, 200, VERIFIED_CODE, 99)
    assert k.state == REJOINING
    assert k.override() == REJOINING
    assert k.state == VERIFIED and k.to_save().state == VERIFIED
    assert k.override() == VERIFIED


def test_senders_without_incarnations_are_stepped_unchecked():
    k = keeper(NEW)
    assert k.observe(2, 0, 0, 0).accept
    assert k.state == NEW


def test_identity_file_round_trip_and_creation(tmp_path):
    created = load_identity(tmp_path / "a", had_data=False)
    assert created.state == NEW and created.incarnation > 0
    assert load_identity(tmp_path / "a", had_data=True) == created  # read, not recreated
    upgraded = load_identity(tmp_path / "b", had_data=True)
    assert upgraded.state == VERIFIED  # data written before identities existed is trusted
    save_identity(tmp_path / "a", Identity(created.incarnation, REJOINING, {2: 5, 3: 6}))
    assert load_identity(tmp_path / "a", had_data=True) == Identity(
        created.incarnation, REJOINING, {2: 5, 3: 6}
    )
    assert not list((tmp_path / "a").glob("*.tmp"))


@pytest.mark.parametrize(
    "text",
    [
        "{",
        "[]",
        json.dumps({"incarnation": 5, "state": "bogus", "peers": {}}),
        json.dumps({"incarnation": 0, "state": "new", "peers": {}}),
        json.dumps({"incarnation": 5, "state": "new"}),
    ],
)
def test_an_unreadable_identity_stops_the_node(tmp_path, text):
    (tmp_path / "identity.json").write_text(text)
    with pytest.raises(StorageError, match="identity"):
        load_identity(tmp_path, had_data=True)
