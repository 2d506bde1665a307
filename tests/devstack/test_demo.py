"""The demo company: reproducible, valid for ingest, and carrying its hidden truth."""

from __future__ import annotations

import itertools
import json
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from ingest.schemas import InteractionIn
from relint.taxonomy import AMOUNT_TYPES, CHANNELS, DIRECTIONS, KINDS, is_canonical
from relint_devstack.demo import (
    AUTOMATED,
    CHURN_DRIVING_ISSUES,
    RELATIONSHIP_TYPES,
    DemoConfig,
    DemoTruth,
    generate,
    office_hours,
    truth_to_dict,
    write_jsonl,
)
from relint_devstack.demo_cli import (
    MAX_BYTES,
    MAX_ITEMS,
    LoadError,
    batches,
    load,
    load_async,
    main,
)

CONFIG = DemoConfig(customers=300, seed=11)
CADENCE = {"purchase", "post", "answer", "event_attended", "email_opened", "email_clicked"}
Items = list[dict[str, Any]]


@pytest.fixture(scope="module")
def company() -> tuple[DemoTruth, Items]:
    truth, items = generate(CONFIG)
    return truth, list(items)


@pytest.fixture(scope="module")
def by_customer(company: tuple[DemoTruth, Items]) -> dict[str, Items]:
    grouped: dict[str, Items] = defaultdict(list)
    for item in company[1]:
        grouped[item["customer"]["external_id"]].append(item)
    return grouped


def _at(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["occurred_at"])


def _ids(truth: DemoTruth, kind: str) -> list[str]:
    return [c.external_id for c in truth.customers if c.relationship_type == kind]


# -- reproducible and valid ------------------------------------------------------------------


def test_the_same_seed_gives_the_same_company() -> None:
    config = DemoConfig(customers=40, seed=3)
    first_truth, first = generate(config)
    second_truth, second = generate(config)
    assert list(first) == list(second)
    assert truth_to_dict(first_truth) == truth_to_dict(second_truth)
    other_truth, other = generate(DemoConfig(customers=40, seed=4))
    assert list(itertools.islice(other, 50)) != list(itertools.islice(generate(config)[1], 50))
    assert truth_to_dict(other_truth) != truth_to_dict(first_truth)


def test_a_bigger_company_starts_with_the_same_customers() -> None:
    small_truth, small = generate(DemoConfig(customers=15, seed=5))
    big_truth, big = generate(DemoConfig(customers=30, seed=5))
    assert big_truth.customers[:15] == small_truth.customers
    first_fifteen = {c.external_id for c in small_truth.customers}
    assert [i for i in big if i["customer"]["external_id"] in first_fifteen] == list(small)


def test_every_item_is_valid_for_ingest_and_canonical(company: tuple[DemoTruth, Items]) -> None:
    _, items = company
    for item in items:
        parsed = InteractionIn.model_validate(item)
        assert is_canonical(parsed.channel, parsed.kind), item
        assert parsed.direction in DIRECTIONS
        assert parsed.source == "demo"
        assert len(json.dumps(item)) < 32 * 1024
        if parsed.kind in ("purchase", "renewal", "upsell"):
            assert parsed.amount_type == "revenue"
            assert parsed.amount is not None
            assert parsed.amount > 0
        if parsed.kind == "refund":
            assert parsed.amount_type == "refund"
        if parsed.kind == "ticket_opened":
            assert parsed.amount_type == "cost_to_serve"
            assert parsed.attributes["issue_type"]
        assert parsed.amount_type in (None, *AMOUNT_TYPES)
    source_ids = [i["source_id"] for i in items]
    assert len(set(source_ids)) == len(source_ids)


def test_items_stream_in_time_order_within_the_period(company: tuple[DemoTruth, Items]) -> None:
    _, items = company
    moments = [_at(i) for i in items]
    assert moments == sorted(moments)
    assert CONFIG.start <= moments[0]
    assert moments[-1] <= CONFIG.end
    assert len({m.utcoffset() for m in moments}) > 3, "zones vary, as customers' do"


def test_people_work_office_hours(company: tuple[DemoTruth, Items]) -> None:
    _, items = company
    human = [i for i in items if f"{i['kind']}@{i['channel']}" not in AUTOMATED]
    assert human
    assert all(8 <= _at(i).hour < 18 for i in human)
    # Only ever forward, so a follow-up scheduled after its cause stays after it.
    moments = [CONFIG.start + timedelta(minutes=7 * n) for n in range(600)]
    for moment in moments:
        mapped = office_hours(moment, 2)
        assert timedelta(0) <= mapped - moment <= timedelta(hours=14)
        assert 8 <= mapped.astimezone(timezone(timedelta(hours=2))).hour < 18
        assert office_hours(mapped, 2) == mapped
    replies = defaultdict(list)
    for item in items:
        ticket = item.get("attributes", {}).get("ticket_id")
        if ticket and item["kind"] in ("ticket_opened", "ticket_resolved"):
            replies[ticket].append(item["kind"])
    assert all(kinds[0] == "ticket_opened" for kinds in replies.values())


def test_every_channel_and_kind_is_present(company: tuple[DemoTruth, Items]) -> None:
    _, items = company
    assert set(Counter(i["channel"] for i in items)) == set(CHANNELS)
    seen = {(i["channel"], i["kind"]) for i in items}
    missing = {(c, k) for c, kinds in KINDS.items() for k in kinds} - seen
    assert not missing


def test_free_text_is_words_not_codes(company: tuple[DemoTruth, Items]) -> None:
    _, items = company
    texts = [i["text"] for i in items if "text" in i]
    assert len(texts) > len(items) / 3
    assert all("{" not in t and "_" not in t and t[0].isupper() for t in texts)
    assert len(set(texts)) > 150


# -- the hidden truth shows in behaviour -----------------------------------------------------


def test_hidden_types_have_plausible_shares(company: tuple[DemoTruth, Items]) -> None:
    truth, _ = company
    shares = Counter(c.relationship_type for c in truth.customers)
    assert set(shares) == set(RELATIONSHIP_TYPES)
    share = {kind: shares[kind] / len(truth.customers) for kind in RELATIONSHIP_TYPES}
    assert 0.35 < share["acquaintance"] < 0.55
    assert 0.2 < share["fair_weather_friend"] < 0.4
    assert 0.1 < share["bff"] < 0.25
    assert 0.03 < share["partner"] < 0.13


def _per_customer(items: Items, amount_type: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for item in items:
        if item.get("amount_type") == amount_type:
            totals[item["customer"]["external_id"]] += float(item["amount"])
    return totals


def test_top_types_bring_far_more_than_they_cost(company: tuple[DemoTruth, Items]) -> None:
    truth, items = company
    revenue, cost = _per_customer(items, "revenue"), _per_customer(items, "cost_to_serve")

    def mean(values: dict[str, float], kind: str) -> float:
        ids = _ids(truth, kind)
        return sum(values[i] for i in ids) / len(ids)

    # The articles' benchmark: the top customers cost ~3x and bring ~16x.
    revenue_ratio = mean(revenue, "partner") / mean(revenue, "acquaintance")
    cost_ratio = mean(cost, "partner") / mean(cost, "acquaintance")
    assert 10 < revenue_ratio < 25
    assert 1.5 < cost_ratio < 5
    assert mean(revenue, "bff") > 5 * mean(revenue, "acquaintance")
    assert mean(cost, "bff") > 1.5 * mean(cost, "acquaintance")
    # Fair-weather friends are the least profitable: about an acquaintance's revenue at a
    # higher cost to serve.
    fair_weather = mean(revenue, "fair_weather_friend") - mean(cost, "fair_weather_friend")
    assert fair_weather < mean(revenue, "acquaintance") - mean(cost, "acquaintance")


def test_fair_weather_friends_buy_on_promotions(company: tuple[DemoTruth, Items]) -> None:
    truth, items = company
    types = {c.external_id: c.relationship_type for c in truth.customers}
    promoted, bought = Counter[str](), Counter[str]()
    responses, mailed = Counter[str](), Counter[str]()
    for item in items:
        kind = types[item["customer"]["external_id"]]
        if item["kind"] == "purchase":
            bought[kind] += 1
            promoted[kind] += "campaign" in item.get("attributes", {})
        if item["channel"] == "marketing":
            (mailed if item["kind"] == "email_sent" else responses)[kind] += 1
    share = {kind: promoted[kind] / bought[kind] for kind in RELATIONSHIP_TYPES}
    assert share["fair_weather_friend"] > 0.35
    assert share["fair_weather_friend"] > 5 * max(share["bff"], share["partner"])
    response = {kind: responses[kind] / mailed[kind] for kind in RELATIONSHIP_TYPES}
    assert response["fair_weather_friend"] == max(response.values())
    assert response["acquaintance"] == min(response.values())
    in_sales = [
        _at(i) for i in items if i["kind"] == "purchase" and "campaign" in i.get("attributes", {})
    ]
    windows = [(p.starts, p.ends + timedelta(hours=15)) for p in truth.promotions]
    assert all(any(a <= at <= b for a, b in windows) for at in in_sales)


def test_advocacy_comes_from_bffs_and_partners(company: tuple[DemoTruth, Items]) -> None:
    truth, items = company
    types = {c.external_id: c.relationship_type for c in truth.customers}
    advocacy = Counter(
        types[i["customer"]["external_id"]]
        for i in items
        if i["kind"] in ("referral", "co_marketing", "review", "post") and i["sentiment"] > 0
    )
    assert advocacy["partner"] + advocacy["bff"] > 5 * max(advocacy["acquaintance"], 1)


def test_acquaintances_are_sparse(by_customer: dict[str, Items], company: Any) -> None:
    truth, _ = company

    def touches(kind: str) -> float:
        return statistics.mean(
            sum(1 for i in by_customer[c] if i["direction"] == "inbound") for c in _ids(truth, kind)
        )

    assert touches("acquaintance") * 3 < touches("bff") < touches("partner")


def test_customers_who_leave_drift_away_first_and_then_go_silent(
    company: tuple[DemoTruth, Items], by_customer: dict[str, Items]
) -> None:
    truth, _ = company
    churned = [c for c in truth.customers if c.churned]
    retained = [c for c in truth.customers if not c.churned]
    assert 0.15 < len(churned) / len(truth.customers) < 0.45
    assert {c.churn_cause for c in churned} == {
        "unresolved_complaints",
        "price_increase_without_notice",
        "slow_service_response",
        "neglect",
    }

    def window(items_: Items, end: datetime, days: int = 60) -> Items:
        return [i for i in items_ if end - timedelta(days=days) <= _at(i) <= end]

    def moods(items_: Items) -> list[float]:
        return [i["sentiment"] for i in items_ if "sentiment" in i]

    churned_mood: list[float] = []
    retained_mood: list[float] = []
    early, late = 0, 0
    for customer in churned:
        assert customer.churned_at is not None
        own = by_customer[customer.external_id]
        assert max(_at(i) for i in own) <= customer.churned_at + timedelta(days=2)
        cancellation = [i for i in own if i["kind"] == "cancellation"]
        assert len(cancellation) == 1
        assert _at(cancellation[0]) == customer.churned_at
        assert cancellation[0]["attributes"]["reason"] == customer.churn_cause
        churned_mood += moods(window(own, customer.churned_at))
        # Falling cadence: fewer purchases and less engagement in the last 60 days than in
        # 60 days before the drift began (complaints and tickets rise instead).
        before = customer.churned_at - timedelta(days=truth.drift_days + 15)
        early += sum(i["kind"] in CADENCE for i in window(own, before))
        late += sum(i["kind"] in CADENCE for i in window(own, customer.churned_at))
    for customer in retained:
        retained_mood += moods(window(by_customer[customer.external_id], CONFIG.end))
    assert statistics.mean(churned_mood) < statistics.mean(retained_mood) - 0.3
    assert late < 0.6 * early


def test_each_churn_cause_leaves_its_own_trace(
    company: tuple[DemoTruth, Items], by_customer: dict[str, Items]
) -> None:
    truth, _ = company
    causes = Counter(c.churn_cause for c in truth.customers if c.churned)
    assert min(causes.values()) >= 5
    for customer in truth.customers:
        if customer.churned_at is None:
            continue
        last = [
            i
            for i in by_customer[customer.external_id]
            if customer.churned_at - timedelta(days=truth.drift_days) <= _at(i)
        ]
        owner_care = [
            i
            for i in last
            if i["kind"] in ("check_in", "business_review", "meeting", "email_sent")
            and i.get("employee") == customer.owner
            and _at(i) < customer.churned_at
        ]
        if customer.churn_cause == "price_increase_without_notice":
            assert any(
                i["kind"] == "price_change" and i["attributes"]["notice_days"] == 0 for i in last
            )
        elif customer.churn_cause == "neglect":
            late_care = [i for i in owner_care if _at(i) > customer.churned_at - timedelta(days=30)]
            assert not late_care
    texts = " ".join(i.get("text", "") for i in itertools.chain.from_iterable(by_customer.values()))
    for words in ("without any notice", "first answer", "never resolved", "account manager"):
        assert words in texts


def test_churn_driving_issues_cluster_before_loss(company: tuple[DemoTruth, Items]) -> None:
    truth, items = company
    leaving = {c.external_id: c.churned_at for c in truth.customers if c.churned_at}
    before_loss, elsewhere = Counter[bool](), Counter[bool]()
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
    assert set(truth.churn_driving_issue_types).isdisjoint(truth.benign_issue_types)


def test_star_employees_keep_their_customers_and_please_them(
    company: tuple[DemoTruth, Items], by_customer: dict[str, Items]
) -> None:
    truth, _ = company
    stars = set(truth.star_employees)
    assert 0 < len(stars) < len(truth.employees) / 3
    theirs = [c for c in truth.customers if c.owner in stars]
    others = [c for c in truth.customers if c.owner not in stars]
    assert statistics.mean(c.churned for c in theirs) < statistics.mean(c.churned for c in others)

    def mood(customers: list[Any]) -> float:
        return statistics.fmean(
            i["sentiment"]
            for c in customers
            if not c.churned
            for i in by_customer[c.external_id]
            if "sentiment" in i
        )

    assert mood(theirs) > mood(others) + 0.05


def test_a_larger_company_generates() -> None:
    truth, items = generate(DemoConfig(customers=2000, seed=7))
    count = sum(1 for _ in items)
    assert len(truth.customers) == 2000
    assert count > 2000 * 100


# -- files and the CLI -----------------------------------------------------------------------


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
    truth = json.loads(truth_file.read_text())
    assert len(truth["customers"]) == 5
    assert truth["customers"][0]["external_id"] == "cust-00001"
    assert {"star_employees", "churn_driving_issue_types", "promotions"} <= set(truth)
    assert write_jsonl(DemoConfig(5, 2), tmp_path / "again.jsonl") == len(lines)


# -- the loader ------------------------------------------------------------------------------


def test_batches_respect_ingest_limits(company: tuple[DemoTruth, Items]) -> None:
    _, items = company
    sizes = []
    for batch in batches(items):
        assert len(batch) <= MAX_ITEMS
        assert len(json.dumps({"interactions": batch}, separators=(",", ":"))) <= MAX_BYTES
        assert len(json.dumps({"interactions": batch})) < 512 * 1024
        sizes.append(len(batch))
    assert sum(sizes) == len(items)
    assert max(sizes) == MAX_ITEMS
    big = [{"text": "x" * 9000, "n": n} for n in range(200)]
    big_batches = list(batches(big))
    assert len(big_batches) > 1
    assert all(
        len(json.dumps({"interactions": b}, separators=(",", ":"))) <= MAX_BYTES + 20
        for b in big_batches
    )


def _judge(items: Items, reject_first: bool = False) -> httpx.Response:
    results = [
        {
            "index": n,
            "status": "rejected" if reject_first and n == 0 else "accepted",
            "id": None,
            "errors": [{"path": "kind", "message": "unknown"}] if reject_first and n == 0 else [],
        }
        for n in range(len(items))
    ]
    rejected = sum(r["status"] == "rejected" for r in results)
    return httpx.Response(
        200,
        json={
            "accepted": len(items) - rejected,
            "duplicates": 0,
            "rejected": rejected,
            "results": results,
        },
    )


async def test_load_retries_what_the_server_asks_to_retry() -> None:
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer rik_test"
        assert request.url.path == "/v1/interactions:batch"
        items = json.loads(request.content)["interactions"]
        calls.append(len(items))
        if len(calls) == 1:
            return httpx.Response(503, text="busy")
        if len(calls) == 2:
            return httpx.Response(429, headers={"Retry-After": "0"})
        if len(calls) == 3:
            raise httpx.ConnectError("connection refused", request=request)
        return _judge(items, reject_first=True)

    items = [{"n": n, "source_id": f"s-{n}"} for n in range(1500)]
    report = await load_async(
        "http://ingest.test",
        "rik_test",
        items,
        concurrency=1,
        transport=httpx.MockTransport(answer),
    )
    assert calls == [1000, 1000, 1000, 1000, 500]
    assert (report.accepted, report.rejected, report.retries) == (1498, 2, 3)
    assert report.rejections == ["s-0: kind: unknown", "s-1000: kind: unknown"]


async def test_load_gives_up_after_repeated_server_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("relint_devstack.demo_cli.MAX_DELAY", 0.01)
    transport = httpx.MockTransport(lambda r: httpx.Response(502))
    with pytest.raises(LoadError, match="8 attempts: HTTP 502"):
        await load_async("http://ingest.test", "rik_x", [{"n": 1}], transport=transport)


async def test_load_stops_on_an_answer_that_retrying_cannot_fix() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["interactions"]
        if items[0]["n"] == 1000:  # the second batch, while others are in flight
            return httpx.Response(401, json={"detail": "bad key"})
        return _judge(items)

    items = [{"n": n} for n in range(5000)]
    with pytest.raises(LoadError, match="401"):
        await load_async(
            "http://ingest.test",
            "rik_x",
            items,
            concurrency=4,
            transport=httpx.MockTransport(answer),
        )


def test_load_pushes_the_configured_company_as_the_launcher_calls_it() -> None:
    config = DemoConfig(customers=12, seed=9)
    expected = sum(1 for _ in generate(config)[1])
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["interactions"]
        seen.extend(i["source_id"] for i in items)
        return _judge(items)

    with respx.mock(assert_all_called=True) as router:
        router.post("http://ingest.test/v1/interactions:batch").mock(side_effect=answer)
        report = load("http://ingest.test", "rik_demo", config)
    assert (report.accepted, report.duplicates, report.rejected) == (expected, 0, 0)
    assert report.seconds > 0
    assert sorted(seen) == sorted(set(seen))
    assert len(seen) == expected
