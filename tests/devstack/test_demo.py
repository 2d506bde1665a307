"""The demo company: reproducible, valid for ingest, and carrying its hidden truth."""

from __future__ import annotations

import itertools
import json
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.schemas import InteractionIn
from relint.taxonomy import CHANNELS, is_canonical
from relint_devstack.demo import (
    CHURN_DRIVING_ISSUES,
    RELATIONSHIP_TYPES,
    DemoConfig,
    DemoTruth,
    generate,
    truth_to_dict,
    write_jsonl,
)
from relint_devstack.demo_cli import MAX_BYTES, MAX_ITEMS, batches, load_async, main

CONFIG = DemoConfig(customers=300, seed=11)


@pytest.fixture(scope="module")
def company() -> tuple[DemoTruth, list[dict[str, Any]]]:
    truth, items = generate(CONFIG)
    return truth, list(items)


def _at(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["occurred_at"])


def test_the_same_seed_gives_the_same_company() -> None:
    config = DemoConfig(customers=40, seed=3)
    first_truth, first = generate(config)
    second_truth, second = generate(config)
    assert list(first) == list(second)
    assert truth_to_dict(first_truth) == truth_to_dict(second_truth)
    _, other = generate(DemoConfig(customers=40, seed=4))
    assert list(itertools.islice(other, 50)) != list(itertools.islice(generate(config)[1], 50))


def test_every_item_is_valid_for_ingest_and_canonical(company: Any) -> None:
    _, items = company
    for item in items:
        parsed = InteractionIn.model_validate(item)
        assert is_canonical(parsed.channel, parsed.kind), item
    source_ids = [i["source_id"] for i in items]
    assert len(set(source_ids)) == len(source_ids)


def test_items_stream_in_time_order_within_the_period(company: Any) -> None:
    _, items = company
    moments = [_at(i) for i in items]
    assert moments == sorted(moments)
    assert CONFIG.start <= moments[0]
    assert moments[-1] < CONFIG.end
    assert {m.utcoffset() for m in moments} != {timedelta(0)}, "zones vary, as partners' do"


def test_every_channel_is_present(company: Any) -> None:
    _, items = company
    assert set(Counter(i["channel"] for i in items)) == set(CHANNELS)


def test_hidden_types_have_plausible_shares(company: Any) -> None:
    truth, _ = company
    shares = Counter(c.relationship_type for c in truth.customers)
    assert set(shares) == set(RELATIONSHIP_TYPES)
    assert shares["acquaintance"] > shares["bff"] > shares["partner"] > 0


def _per_customer(items: list[dict[str, Any]], amount_type: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for item in items:
        if item.get("amount_type") == amount_type:
            totals[item["customer"]["external_id"]] += float(item["amount"])
    return totals


def test_top_types_bring_far_more_than_they_cost(company: Any) -> None:
    truth, items = company
    revenue, cost = _per_customer(items, "revenue"), _per_customer(items, "cost_to_serve")

    def mean(values: dict[str, float], kind: str) -> float:
        ids = [c.external_id for c in truth.customers if c.relationship_type == kind]
        return sum(values[i] for i in ids) / len(ids)

    revenue_ratio = mean(revenue, "partner") / mean(revenue, "acquaintance")
    cost_ratio = mean(cost, "partner") / mean(cost, "acquaintance")
    assert revenue_ratio > 8
    assert 1.5 < cost_ratio < 6
    assert revenue_ratio > 3 * cost_ratio


def test_advocacy_comes_from_bffs_and_partners(company: Any) -> None:
    truth, items = company
    types = {c.external_id: c.relationship_type for c in truth.customers}
    advocacy = Counter(
        types[i["customer"]["external_id"]]
        for i in items
        if i["kind"] in ("referral", "co_marketing", "review")
    )
    assert advocacy["partner"] + advocacy["bff"] > 5 * max(advocacy["acquaintance"], 1)


def test_customers_who_leave_drift_away_first_and_then_go_silent(company: Any) -> None:
    truth, items = company
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        by_customer[item["customer"]["external_id"]].append(item)
    churned = [c for c in truth.customers if c.churned]
    retained = [c for c in truth.customers if not c.churned]
    assert len(churned) >= 20
    assert {c.churn_cause for c in churned} >= {"neglect", "unresolved_complaints"}

    def window_sentiment(items_: list[dict[str, Any]], end: datetime) -> list[float]:
        return [
            i["sentiment"]
            for i in items_
            if "sentiment" in i and end - timedelta(days=60) <= _at(i) <= end
        ]

    churned_mood, retained_mood = [], []
    for customer in churned:
        assert customer.churned_at is not None
        own = by_customer[customer.external_id]
        assert max(_at(i) for i in own) <= customer.churned_at + timedelta(days=2)
        assert any(i["kind"] == "cancellation" for i in own)
        churned_mood += window_sentiment(own, customer.churned_at)
    for customer in retained:
        retained_mood += window_sentiment(by_customer[customer.external_id], CONFIG.end)
    assert statistics.mean(churned_mood) < statistics.mean(retained_mood) - 0.3


def test_churn_driving_issues_cluster_before_loss(company: Any) -> None:
    truth, items = company
    leaving = {c.external_id: c.churned_at for c in truth.customers if c.churned_at}
    before_loss, elsewhere = Counter(), Counter()
    for item in items:
        issue = item.get("attributes", {}).get("issue_type")
        if item["kind"] != "ticket_opened" or issue is None:
            continue
        churned_at = leaving.get(item["customer"]["external_id"])
        near = churned_at is not None and churned_at - _at(item) < timedelta(days=90)
        (before_loss if near else elsewhere)[issue in CHURN_DRIVING_ISSUES] += 1
    share_before = before_loss[True] / sum(before_loss.values())
    share_elsewhere = elsewhere[True] / sum(elsewhere.values())
    assert share_before > 3 * share_elsewhere


def test_star_employees_keep_their_customers(company: Any) -> None:
    truth, _ = company
    stars = set(truth.star_employees)
    theirs = [c.churned for c in truth.customers if c.owner in stars]
    others = [c.churned for c in truth.customers if c.owner not in stars]
    assert sum(theirs) / len(theirs) < sum(others) / len(others)


def test_write_jsonl_and_the_cli(tmp_path: Path) -> None:
    out, truth_file = tmp_path / "demo.jsonl", tmp_path / "truth.json"
    main(
        [
            "generate",
            "--customers",
            "5",
            "--seed",
            "2",
            "--out",
            str(out),
            "--truth",
            str(truth_file),
        ]
    )
    lines = out.read_text().splitlines()
    assert lines
    assert [json.loads(line) for line in lines] == list(generate(DemoConfig(5, 2))[1])
    assert len(json.loads(truth_file.read_text())["customers"]) == 5
    assert write_jsonl(DemoConfig(5, 2), tmp_path / "again.jsonl") == len(lines)


def test_batches_respect_ingest_limits(company: Any) -> None:
    _, items = company
    sizes = []
    for batch in batches(items):
        assert len(batch) <= MAX_ITEMS
        assert len(json.dumps({"interactions": batch})) < 512 * 1024
        sizes.append(len(batch))
    assert sum(sizes) == len(items)
    big = [{"text": "x" * 9000, "n": n} for n in range(200)]
    assert all(len(json.dumps(b)) <= MAX_BYTES + 100 for b in batches(big))


async def test_load_retries_what_the_server_asks_to_retry() -> None:
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer rik_test"
        items = json.loads(request.content)["interactions"]
        calls.append(len(items))
        if len(calls) == 1:
            return httpx.Response(503, text="busy")
        if len(calls) == 2:
            return httpx.Response(429, headers={"Retry-After": "0"})
        results = [
            {
                "index": n,
                "status": "rejected" if n == 0 else "accepted",
                "id": None,
                "errors": [{"path": "kind", "message": "unknown"}] if n == 0 else [],
            }
            for n in range(len(items))
        ]
        return httpx.Response(
            200,
            json={"accepted": len(items) - 1, "duplicates": 0, "rejected": 1, "results": results},
        )

    items = [{"n": n} for n in range(1500)]
    report = await load_async(
        "http://ingest.test",
        "rik_test",
        items,
        concurrency=1,
        transport=httpx.MockTransport(answer),
    )
    assert calls[:3] == [1000, 1000, 1000]
    assert (report.accepted, report.rejected) == (1498, 2)
    assert len(report.rejections) == 2


async def test_load_stops_on_an_answer_that_retrying_cannot_fix() -> None:
    from relint_devstack.demo_cli import LoadError

    transport = httpx.MockTransport(lambda r: httpx.Response(401, json={"detail": "bad key"}))
    with pytest.raises(LoadError, match="401"):
        await load_async("http://ingest.test", "rik_x", [{"n": 1}], transport=transport)
