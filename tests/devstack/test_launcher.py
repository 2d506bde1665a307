"""The launcher: the banner's example query, and the ports it picks for test stacks."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from relint_devstack.launcher import LOWEST_FREE_PORT, _share, free_port


def test_the_banners_example_query_is_valid_against_the_schema() -> None:
    from graphql import parse, validate

    from gateway.schema import schema
    from relint_devstack.launcher import EXAMPLE_QUERY

    assert validate(schema._schema, parse(EXAMPLE_QUERY % "cust-00001")) == []


def test_free_ports_lie_below_the_range_outgoing_connections_take_theirs_from() -> None:
    """A port chosen for a service to bind later must not be one an outgoing connection can
    take meanwhile: every one is below the kernel's range for those, and free."""
    start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert all(LOWEST_FREE_PORT <= port < start for port in ports)
    assert len(set(ports)) == len(ports)  # never the same port twice
    for port in ports[:5]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_test_workers_pick_from_shares_of_the_range_that_do_not_overlap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two pytest-xdist workers starting stacks at once cannot pick the same port."""
    shares = []
    for worker in ("gw0", "gw1", "gw7"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        shares.append(_share(20_000, 32_000))
    assert shares == [(20_000, 21_500), (21_500, 23_000), (30_500, 32_000)]
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    low, high = _share(LOWEST_FREE_PORT, start)
    assert high - low == (start - LOWEST_FREE_PORT) // 8
    assert all(low <= free_port() < high for _ in range(20))
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert _share(20_000, 32_000) == (20_000, 32_000)
