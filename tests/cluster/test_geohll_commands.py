"""The geo, HyperLogLog and bitmap commands through the router of a real cluster give
what redis-server gives (their differential cases alone, so that each sequence is made
of them): PFCOUNT's cache written through the log, coordinates as RESP3 doubles, the
STORE destinations of the geo searches in the source's slot or CROSSSLOT."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cluster.test_commands import RouterDifferential
from tests.differential import cases_bitmaps, cases_geo, cases_hll

pytestmark = pytest.mark.slow  # a real cluster of processes

CASES = [*cases_geo.CASES, *cases_hll.CASES, *cases_bitmaps.CASES]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_geo_hll_bitmap_commands_through_the_router(cluster, redis_port, resp3):
    one = st.one_of(*[st.tuples(st.just(case), case.strategy) for case in CASES])

    @settings(
        max_examples=80,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(sequence=st.lists(one, min_size=1, max_size=30))
    def run(sequence):
        diff = RouterDifferential(cluster.router_ports[0], redis_port, resp3)
        try:
            for case, args in sequence:
                diff.check(case, args)
        finally:
            diff.close()

    run()
