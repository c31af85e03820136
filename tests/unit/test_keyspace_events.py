"""Keyspace.notify keeps an event only when notify-keyspace-events enables its class and
one of K (keyspace channel) or E (keyevent channel), as Redis's notifyKeyspaceEvent."""

from node.engine.keyspace import Keyspace


def test_events_are_kept_only_for_enabled_classes() -> None:
    db = Keyspace()
    db.notify("g", b"del", b"k")
    assert db.take_events() == []  # notifications off by default

    db.config.notify_keyspace_events = "Kg"
    db.notify("g", b"del", b"k")
    db.notify("$", b"set", b"k")
    assert db.take_events() == [("g", b"del", b"k")]
    assert db.take_events() == []

    db.config.notify_keyspace_events = "g"  # a class without K or E publishes nothing
    db.notify("g", b"del", b"k")
    assert db.take_events() == []

    db.config.notify_keyspace_events = "EA"
    db.notify("x", b"expired", b"k")
    db.notify("l", b"lpush", b"q")
    assert db.take_events() == [("x", b"expired", b"k"), ("l", b"lpush", b"q")]
