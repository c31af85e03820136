"""Geo commands (Redis's geo.c). GEORADIUS and GEORADIUSBYMEMBER take a destination
after STORE or STOREDIST: their keys function finds it, so that it must share the
source's slot."""

from __future__ import annotations

from proto.commands.builder import DENYOOM, READONLY, WRITE, command
from proto.commands.spec import KeysFunction

GROUP = "geo"


def _with_store(first_option: int) -> KeysFunction:
    """The source key and the last STORE / STOREDIST destination among the options."""

    def positions(args: list[bytes]) -> list[int]:
        found = [1] if len(args) > 1 else []
        store = None
        index = first_option
        while index < len(args) - 1:
            if args[index].lower() in (b"store", b"storedist"):
                store = index + 1
                index += 2
                continue
            index += 1
        return found + ([store] if store is not None else [])

    return positions


def _read(*extra: str) -> tuple[str, ...]:
    return ("@read", "@geo", "@slow", *extra)


def _write() -> tuple[str, ...]:
    return ("@write", "@geo", "@slow")


COMMANDS = [
    command(
        "geoadd",
        -5,
        WRITE | DENYOOM,
        (1, 1, 1),
        group=GROUP,
        since="3.2.0",
        complexity="O(log(N)) for each item added, where N is the number of elements in "
        "the sorted set.",
        summary="Adds one or more members to a geospatial index. The key is created if it "
        "doesn't exist.",
        acl_categories=_write(),
    ),
    command(
        "geodist",
        -4,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        since="3.2.0",
        complexity="O(log(N))",
        summary="Returns the distance between two members of a geospatial index.",
        acl_categories=_read(),
    ),
    command(
        "geohash",
        -2,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        since="3.2.0",
        complexity="O(log(N)) for each member requested, where N is the number of elements "
        "in the sorted set.",
        summary="Returns members from a geospatial index as geohash strings.",
        acl_categories=_read(),
    ),
    command(
        "geopos",
        -2,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        since="3.2.0",
        complexity="O(N) where N is the number of members requested.",
        summary="Returns the longitude and latitude of members from a geospatial index.",
        acl_categories=_read(),
    ),
    command(
        "georadius",
        -6,
        WRITE | DENYOOM,
        (1, 1, 1),
        group=GROUP,
        since="3.2.0",
        complexity="O(N+log(M)) where N is the number of elements inside the bounding box "
        "of the circular area delimited by center and radius and M is the number of items "
        "inside the index.",
        summary="Queries a geospatial index for members within a distance from a "
        "coordinate, optionally stores the result.",
        keys_function=_with_store(6),
        acl_categories=_write(),
    ),
    command(
        "georadius_ro",
        -6,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        since="3.2.10",
        complexity="O(N+log(M)) where N is the number of elements inside the bounding box "
        "of the circular area delimited by center and radius and M is the number of items "
        "inside the index.",
        summary="Returns members from a geospatial index that are within a distance from a "
        "coordinate.",
        acl_categories=_read(),
    ),
    command(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM,
        (1, 1, 1),
        group=GROUP,
        since="3.2.0",
        complexity="O(N+log(M)) where N is the number of elements inside the bounding box "
        "of the circular area delimited by center and radius and M is the number of items "
        "inside the index.",
        summary="Queries a geospatial index for members within a distance from a member, "
        "optionally stores the result.",
        keys_function=_with_store(5),
        acl_categories=_write(),
    ),
    command(
        "georadiusbymember_ro",
        -5,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        since="3.2.10",
        complexity="O(N+log(M)) where N is the number of elements inside the bounding box "
        "of the circular area delimited by center and radius and M is the number of items "
        "inside the index.",
        summary="Returns members from a geospatial index that are within a distance from a member.",
        acl_categories=_read(),
    ),
    command(
        "geosearch",
        -7,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        since="6.2.0",
        complexity="O(N+log(M)) where N is the number of elements in the grid-aligned "
        "bounding box area around the shape provided as the filter and M is the number of "
        "items inside the shape",
        summary="Queries a geospatial index for members inside an area of a box or a circle.",
        acl_categories=_read(),
    ),
    command(
        "geosearchstore",
        -8,
        WRITE | DENYOOM,
        (1, 2, 1),
        group=GROUP,
        since="6.2.0",
        complexity="O(N+log(M)) where N is the number of elements in the grid-aligned "
        "bounding box area around the shape provided as the filter and M is the number of "
        "items inside the shape",
        summary="Queries a geospatial index for members inside an area of a box or a "
        "circle, optionally stores the result.",
        acl_categories=_write(),
    ),
]
