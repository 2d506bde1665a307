"""The demo company as scoring sees it, for tests that check rules against the hidden truth."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from functools import cache
from typing import Any

from relint_devstack.demo import DemoConfig, DemoTruth, generate
from scoring.domain import DEFAULT_TABLE, Touch, masses_after
from scoring.relationship_types import ValueMapBuilder, ValueMapHistory, micros
from scoring.stages import Moment


def _money(item: dict[str, Any], kind: str) -> float:
    return float(item.get("amount") or 0) if item.get("amount_type") == kind else 0.0


@cache
def demo(customers: int, seed: int) -> tuple[DemoTruth, dict[str, list[dict[str, Any]]]]:
    truth, stream = generate(DemoConfig(customers=customers, seed=seed))
    items: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in stream:
        items[item["customer"]["external_id"]].append(item)
    return truth, dict(items)


def value_map(items: dict[str, list[dict[str, Any]]]) -> ValueMapHistory:
    """The customers' interactions as the value map reads them."""
    ordered = sorted(
        ((c, i) for c, its in items.items() for i in its),
        key=lambda ci: datetime.fromisoformat(ci[1]["occurred_at"]),
    )
    builder = ValueMapBuilder()
    builder.add(
        [c for c, _ in ordered],
        [micros(datetime.fromisoformat(i["occurred_at"])) for _, i in ordered],
        [i["channel"] for _, i in ordered],
        [i["kind"] for _, i in ordered],
        [_money(i, "revenue") for _, i in ordered],
        [_money(i, "refund") for _, i in ordered],
        [_money(i, "cost_to_serve") for _, i in ordered],
        [i.get("sentiment") for _, i in ordered],
    )
    return builder.build()


def moments(items: list[dict[str, Any]]) -> list[Moment]:
    """The customer's interactions in time order with the value just after each."""
    ordered = sorted(items, key=lambda i: datetime.fromisoformat(i["occurred_at"]))
    times = [datetime.fromisoformat(i["occurred_at"]) for i in ordered]
    contributions = [
        DEFAULT_TABLE.contribution(
            Touch(
                i["kind"],
                i.get("sentiment"),
                _money(i, "revenue"),
                i["channel"],
                (i.get("attributes") or {}).get("outcome"),
                _money(i, "refund"),
            )
        ).value
        for i in ordered
    ]
    after = [
        good + bad
        for good, bad in masses_after(DEFAULT_TABLE, list(zip(times, contributions, strict=True)))
    ]
    return [
        Moment(at, i["kind"], i["channel"], i["direction"], value)
        for at, i, value in zip(times, ordered, after, strict=True)
    ]


def features_of_active(customers: int, seed: int) -> tuple[DemoTruth, dict[str, Any]]:
    """The value-map features, at the end, of the customers still active then."""
    truth, items = demo(customers, seed)
    active = [c.external_id for c in truth.customers if not c.churned and c.external_id in items]
    return truth, value_map(items).features_at(truth.config.end, active)
