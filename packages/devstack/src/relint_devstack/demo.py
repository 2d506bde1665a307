"""A simulated company: its customers over two years across every channel, with a hidden truth.

Each customer has a hidden relationship type (acquaintance, fair-weather friend, BFF,
partner) that shapes everything it does: how often it buys and for how much, what it costs
to serve, how it answers marketing, whether it advocates. Some customers drift away and
leave, for a cause that shows in the weeks before: unresolved complaints, a price change
without notice, slow service, or neglect. A few employees are stars whose customers stay
longer and grow more; some service issue types foreshadow loss and others are followed by
upsell; engagement on community and social leads purchases by a month.

Later features are tested against this truth (`DemoTruth`). Generation is pure and
deterministic: the same `DemoConfig` gives the same items and truth on every machine.
Items stream month by month in time order, so memory stays bounded at any size.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

RELATIONSHIP_TYPES = ("acquaintance", "fair_weather_friend", "bff", "partner")
TYPE_SHARES = (0.45, 0.30, 0.17, 0.08)
CHURN_CAUSES = (
    "unresolved_complaints",
    "price_increase_without_notice",
    "slow_service_response",
    "neglect",
)
CHURN_DRIVING_ISSUES = ("billing_error", "outage", "data_loss")
BENIGN_ISSUES = ("how_to", "feature_request", "password_reset")
# The service issue type whose resolution tends to be followed by an upsell.
UPSELL_ISSUE = "feature_request"
MONTH = 30  # days: the simulation's step
DRIFT_DAYS = 75  # how long before leaving a customer starts to drift away
SOURCE = "demo"


@dataclass(frozen=True)
class DemoConfig:
    customers: int = 200
    seed: int = 7
    start: datetime = datetime(2024, 11, 1, tzinfo=UTC)
    days: int = 730
    employees: int = 24

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


@dataclass(frozen=True)
class Profile:
    """How a relationship type behaves; rates are per 30 days, amounts in EUR."""

    purchases: float
    order_value: float
    tickets: float
    ticket_cost: float
    marketing: float
    marketing_response: float
    advocacy: float
    community: float
    sentiment: float
    churn: float  # chance of leaving within the two years


PROFILES: dict[str, Profile] = {
    # Revenue per month ~40 / ~110 / ~300 / ~650 and cost to serve ~20 / ~30 / ~45 / ~60:
    # the top customers bring ~16x and cost ~3x what the bottom ones do (the articles'
    # benchmark), through volume and care, not through price.
    "acquaintance": Profile(0.4, 100, 0.25, 80, 2.0, 0.10, 0.0, 0.05, 0.1, 0.40),
    "fair_weather_friend": Profile(0.9, 120, 0.35, 85, 4.0, 0.35, 0.03, 0.1, 0.15, 0.50),
    "bff": Profile(1.5, 200, 0.55, 80, 2.5, 0.25, 0.25, 0.8, 0.45, 0.12),
    "partner": Profile(2.0, 260, 0.7, 85, 1.5, 0.20, 0.35, 1.2, 0.5, 0.08),
}


@dataclass(frozen=True)
class CustomerTruth:
    external_id: str
    name: str
    relationship_type: str
    owner: str
    joined_at: datetime
    churned: bool
    churned_at: datetime | None
    churn_cause: str | None
    utc_offset_hours: int


@dataclass(frozen=True)
class DemoTruth:
    config: DemoConfig
    customers: tuple[CustomerTruth, ...]
    employees: tuple[str, ...]
    star_employees: tuple[str, ...]
    churn_driving_issue_types: tuple[str, ...] = CHURN_DRIVING_ISSUES
    benign_issue_types: tuple[str, ...] = BENIGN_ISSUES
    upsell_issue_type: str = UPSELL_ISSUE
    # Engagement (community and social) in one month raises purchases in the next.
    engagement_lead_days: int = MONTH

    def customer(self, external_id: str) -> CustomerTruth:
        for customer in self.customers:
            if customer.external_id == external_id:
                return customer
        raise KeyError(external_id)


def truth_to_dict(truth: DemoTruth) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return plain(asdict(truth))  # type: ignore[no-any-return]


_FIRST = ("North", "Blue", "Iron", "Bright", "Silver", "Oak", "Summit", "Harbor", "Pine", "Nova")
_SECOND = ("wind", "stone", "field", "bridge", "light", "works", "gate", "point", "line", "peak")
_SUFFIX = ("Traders", "Ltd", "GmbH", "Labs", "Foods", "Logistics", "Studio", "Retail", "AG", "Co")
_OFFSETS = (-5, -3, 0, 1, 1, 1, 2, 5, 8, 10)


def _truth(config: DemoConfig) -> DemoTruth:
    rng = random.Random(f"relint-demo-truth-{config.seed}")  # noqa: S311 - simulation, not secrets
    employees = tuple(f"emp-{n:03d}" for n in range(1, config.employees + 1))
    stars = tuple(sorted(rng.sample(employees, max(1, config.employees // 6))))
    customers = []
    for n in range(1, config.customers + 1):
        kind = rng.choices(RELATIONSHIP_TYPES, TYPE_SHARES)[0]
        owner = rng.choice(employees)
        # Customers arrive over the first 60% of the period; partners tend to be older.
        earliest = 0.0 if kind == "partner" else 0.05
        joined = config.start + timedelta(days=config.days * rng.uniform(earliest, 0.6))
        churn_chance = PROFILES[kind].churn * (0.4 if owner in stars else 1.0)
        lifetime_end = config.end - timedelta(days=30)
        room = (lifetime_end - joined).days - 150
        churned = room > 0 and rng.random() < churn_chance
        churned_at = joined + timedelta(days=150 + rng.uniform(0, room)) if churned else None
        customers.append(
            CustomerTruth(
                external_id=f"cust-{n:05d}",
                name=f"{rng.choice(_FIRST)}{rng.choice(_SECOND)} {rng.choice(_SUFFIX)}",
                relationship_type=kind,
                owner=owner,
                joined_at=joined,
                churned=churned,
                churned_at=churned_at,
                churn_cause=rng.choice(CHURN_CAUSES) if churned else None,
                utc_offset_hours=rng.choice(_OFFSETS),
            )
        )
    return DemoTruth(config, tuple(customers), employees, stars)


_TEXTS: dict[str, tuple[str, ...]] = {
    "purchase": ("Order placed for {product}.", "Reordered {product}.", "Bought {product}."),
    "upsell": ("Upgraded to the premium {product} plan.", "Added {product} seats."),
    "renewal": ("Renewed the annual contract.", "Contract renewed for another year."),
    "contract_signed": ("Signed the framework agreement.",),
    "business_review": ("Quarterly business review: goals for next quarter agreed.",),
    "check_in": ("Check-in call: everything running smoothly?",),
    "ticket_opened": (
        "{issue}: {problem}",
        "Ticket about {issue}: {problem}",
    ),
    "ticket_resolved": ("Resolved: {issue}.", "Fixed the {issue} problem."),
    "ticket_escalated": ("Escalated {issue}, still waiting for a fix.",),
    "ticket_reopened": ("Reopened: the {issue} problem is back.",),
    "complaint": (
        "We are very unhappy: {problem}",
        "This is the third time we complain about this.",
        "Nobody answers our tickets.",
    ),
    "cancellation": ("We are cancelling our account.", "Please close our account."),
    "review": ("Great partner, quick to help and easy to work with.", "Solid product, good team."),
    "referral": ("Introduced us to a peer company that needs the same.",),
    "co_marketing": ("Joint case study published together.",),
    "post": ("Shared how we use {product} in our workflow.",),
    "answer": ("Answered another customer's question about {product}.",),
    "mention": ("Mentioned us in a post about their suppliers.",),
    "social_complaint": ("Public post: service has gone downhill lately.",),
    "price_change": ("Price list updated: new prices apply from next month.",),
    "discount_requested": ("Asked for a better price before ordering.",),
    "campaign_response": ("Responded to the seasonal promotion.",),
}
_PRODUCTS = ("analytics", "storage", "the starter kit", "support plan", "integration pack")
_PROBLEMS = {
    "billing_error": "we were charged twice this month",
    "outage": "the service was down all morning",
    "data_loss": "records we entered yesterday are gone",
    "how_to": "how do we export the monthly report?",
    "feature_request": "could you add an API for bulk updates?",
    "password_reset": "a colleague cannot log in",
}


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    item: dict[str, Any] = field(compare=False)


class _Customer:
    """One customer's simulation: its random stream, its pending events, its state."""

    def __init__(self, truth: CustomerTruth, config: DemoConfig, stars: tuple[str, ...]):
        self.truth = truth
        self.profile = PROFILES[truth.relationship_type]
        self.rng = random.Random(f"relint-demo-{config.seed}-{truth.external_id}")  # noqa: S311
        self.zone = timezone(timedelta(hours=truth.utc_offset_hours))
        self.star = truth.owner in stars
        self.pending: list[_Event] = []
        self.count = 0
        self.engagement = self.rng.uniform(0.3, 1.0)  # this month's, feeds next month
        self.last_review: datetime | None = None
        self.config = config

    # -- building events ---------------------------------------------------------------
    def add(
        self,
        at: datetime,
        channel: str,
        kind: str,
        direction: str,
        *,
        sentiment: float | None = None,
        amount: float | None = None,
        amount_type: str | None = None,
        employee: str | None = None,
        issue: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        if at >= self.config.end or at < self.truth.joined_at:
            return
        if self.truth.churned_at is not None and at > self.truth.churned_at + timedelta(days=2):
            return
        self.count += 1
        item: dict[str, Any] = {
            "customer": {"external_id": self.truth.external_id, "name": self.truth.name},
            "occurred_at": at.astimezone(self.zone).isoformat(timespec="seconds"),
            "channel": channel,
            "kind": kind,
            "direction": direction,
            "source": SOURCE,
            "source_id": f"{self.truth.external_id}-{self.count:06d}",
        }
        if sentiment is not None:
            item["sentiment"] = round(max(-1.0, min(1.0, sentiment)), 2)
        if amount is not None:
            item["amount"] = f"{max(amount, 1.0):.2f}"
            item["amount_type"] = amount_type
            item["currency"] = "EUR"
        if employee is not None:
            item["employee"] = employee
        text = self._text(kind, issue)
        if text:
            item["text"] = text
        extra = dict(attributes or {})
        if issue is not None:
            extra["issue_type"] = issue
        if extra:
            item["attributes"] = extra
        heapq.heappush(self.pending, _Event(at.astimezone(UTC), self.count, item))

    def _text(self, kind: str, issue: str | None) -> str | None:
        templates = _TEXTS.get(kind)
        if not templates:
            return None
        template = self.rng.choice(templates)
        issue_words = (issue or "question").replace("_", " ")
        problem = _PROBLEMS.get(issue or "", "something is not working")
        return template.format(
            product=self.rng.choice(_PRODUCTS), issue=issue_words, problem=problem
        )

    def times(self, rate: float, start: datetime, days: float) -> list[datetime]:
        """Moments of a Poisson process with `rate` per 30 days over [start, start+days)."""
        moments: list[datetime] = []
        if rate <= 0:
            return moments
        t = self.rng.expovariate(rate / MONTH)
        while t < days:
            moments.append(start + timedelta(days=t))
            t += self.rng.expovariate(rate / MONTH)
        return moments

    def sentiment(self, base: float, drifting: bool) -> float:
        bonus = 0.15 if self.star else 0.0
        return self.rng.gauss(base + bonus - (0.7 if drifting else 0.0), 0.25)

    # -- one month ---------------------------------------------------------------------
    def simulate(self, month_start: datetime, employees: tuple[str, ...]) -> None:
        truth, p, rng = self.truth, self.profile, self.rng
        end = month_start + timedelta(days=MONTH)
        if end <= truth.joined_at:
            return
        if month_start <= truth.joined_at < end:
            self._onboard(truth.joined_at)
        begin = max(month_start, truth.joined_at)
        days = (end - begin).total_seconds() / 86400
        churn_at = truth.churned_at
        if churn_at is not None and begin > churn_at:
            return
        drifting = churn_at is not None and churn_at - timedelta(days=DRIFT_DAYS) < end
        fade = 0.35 if drifting else 1.0
        owner = truth.owner

        # Purchases follow last month's engagement (the lead the engagement lens finds).
        growth = 1.25 if self.star else 1.0
        purchase_rate = p.purchases * (0.5 + self.engagement) * fade * growth
        for at in self.times(purchase_rate, begin, days):
            value = rng.lognormvariate(math.log(p.order_value), 0.4)
            kind = "purchase"
            if truth.relationship_type == "fair_weather_friend" and rng.random() < 0.5:
                promoted = max(at - timedelta(days=2), begin)
                self.add(promoted, "marketing", "campaign_response", "inbound")
                value *= 0.8
            self.add(
                at,
                "sales",
                kind,
                "inbound",
                sentiment=self.sentiment(p.sentiment, drifting),
                amount=value,
                amount_type="revenue",
                employee=owner,
            )
            self.add(at + timedelta(days=1), "finance", "invoice_sent", "outbound")
            late = rng.random() < (0.3 if drifting else 0.05)
            self.add(
                at + timedelta(days=rng.uniform(20, 45) if late else rng.uniform(3, 14)),
                "finance",
                "invoice_paid",
                "inbound",
            )
            if late:
                self.add(at + timedelta(days=31), "finance", "invoice_overdue", "outbound")
            self.add(at + timedelta(days=rng.uniform(2, 6)), "operations", "delivery", "outbound")

        # Engagement this month: community and social, which feeds next month's purchases.
        self.engagement = min(1.5, max(0.1, 0.6 * self.engagement + rng.uniform(0.0, 0.8)))
        if drifting:
            self.engagement *= 0.4
        for at in self.times(p.community * self.engagement, begin, days):
            kind = rng.choice(("post", "answer", "event_attended"))
            self.add(at, "community", kind, "inbound", sentiment=self.sentiment(0.5, drifting))
        for at in self.times(p.advocacy * self.engagement * fade, begin, days):
            kind = rng.choices(
                ("review", "referral", "co_marketing", "mention", "share"),
                (3, 2, 1 if truth.relationship_type == "partner" else 0, 3, 2),
            )[0]
            channel = "community" if kind in ("referral", "co_marketing") else "social"
            self.add(at, channel, kind, "inbound", sentiment=self.sentiment(0.7, False))

        # Marketing: sent to everyone, answered by some.
        for at in self.times(p.marketing, begin, days):
            self.add(at, "marketing", "email_sent", "outbound")
            if rng.random() < p.marketing_response * (0.3 if drifting else 1.0):
                self.add(
                    at + timedelta(hours=rng.uniform(1, 48)),
                    "marketing",
                    rng.choice(("email_opened", "email_clicked")),
                    "inbound",
                )
        if rng.random() < 0.05:
            self.add(
                begin + timedelta(days=rng.uniform(0, days)),
                "marketing",
                "webinar_attended",
                "inbound",
            )

        # Service: tickets with costs; drifting customers hit the issue types that drive loss.
        cause = truth.churn_cause if drifting else None
        ticket_rate = p.tickets * (
            2.2 if cause in ("unresolved_complaints", "slow_service_response") else 1.0
        )
        for at in self.times(ticket_rate, begin, days):
            self._ticket(at, employees, drifting, cause)

        # Account care by the owner: check-ins, business reviews for partners, emails.
        neglected = cause == "neglect"
        if not neglected:
            care = {"partner": 1.0, "bff": 0.6, "fair_weather_friend": 0.2, "acquaintance": 0.1}
            for at in self.times(care[truth.relationship_type], begin, days):
                self.add(
                    at,
                    "service",
                    "check_in",
                    "outbound",
                    employee=owner,
                    sentiment=self.sentiment(p.sentiment, drifting),
                )
            for at in self.times(
                2.0 if truth.relationship_type in ("partner", "bff") else 0.5, begin, days
            ):
                self.add(at, "email", "email_sent", "outbound", employee=owner)
                if rng.random() < 0.6 * fade:
                    self.add(
                        at + timedelta(hours=rng.uniform(2, 72)),
                        "email",
                        "email_received",
                        "inbound",
                        employee=owner,
                    )
            if truth.relationship_type == "partner" and (
                self.last_review is None or (begin - self.last_review).days >= 85
            ):
                at = begin + timedelta(days=rng.uniform(0, min(days, 10)))
                self.last_review = at
                self.add(
                    at,
                    "sales",
                    "business_review",
                    "outbound",
                    employee=owner,
                    sentiment=self.sentiment(p.sentiment, drifting),
                )
        else:
            for at in self.times(1.0, begin, days):
                self.add(at, "operations", "usage_decrease", "inbound")
        if not drifting and self.star and rng.random() < 0.06 * p.purchases:
            self.add(
                begin + timedelta(days=rng.uniform(0, days)),
                "operations",
                "usage_increase",
                "inbound",
            )

        # BFFs and partners renew on their anniversary, unless they are drifting away.
        anniversary = truth.joined_at + timedelta(days=365)
        renews = truth.relationship_type in ("partner", "bff") and not drifting
        if renews and begin <= anniversary < end:
            self.add(
                anniversary,
                "sales",
                "renewal",
                "inbound",
                employee=owner,
                amount=p.order_value * 4,
                amount_type="revenue",
                sentiment=self.sentiment(p.sentiment, False),
            )

        price_change_at = churn_at - timedelta(days=40) if churn_at is not None else None
        if (
            truth.churn_cause == "price_increase_without_notice"
            and price_change_at is not None
            and begin <= price_change_at < end
        ):
            self.add(
                price_change_at,
                "finance",
                "price_change",
                "outbound",
                attributes={"notice_days": 0},
            )
        if churn_at is not None and begin <= churn_at < end:
            self._leave(churn_at)

    def _onboard(self, at: datetime) -> None:
        owner = self.truth.owner
        kind = self.truth.relationship_type
        self.add(at, "sales", "demo", "outbound", employee=owner)
        if kind in ("partner", "bff"):
            self.add(
                at + timedelta(days=3),
                "sales",
                "contract_signed",
                "inbound",
                employee=owner,
                sentiment=0.6,
            )
        self.add(
            at + timedelta(days=5),
            "operations",
            "onboarding",
            "outbound",
            employee=owner,
            amount=self.profile.ticket_cost,
            amount_type="cost_to_serve",
        )

    def _ticket(
        self, at: datetime, employees: tuple[str, ...], drifting: bool, cause: str | None
    ) -> None:
        rng, p = self.rng, self.profile
        if drifting:
            issue = (
                rng.choice(CHURN_DRIVING_ISSUES)
                if rng.random() < 0.7
                else rng.choice(BENIGN_ISSUES)
            )
        else:
            issue = (
                rng.choice(CHURN_DRIVING_ISSUES)
                if rng.random() < 0.08
                else rng.choice(BENIGN_ISSUES)
            )
        agent = rng.choice(employees)
        cost = rng.lognormvariate(math.log(p.ticket_cost), 0.3)
        self.add(
            at,
            "service",
            "ticket_opened",
            "inbound",
            employee=agent,
            issue=issue,
            sentiment=self.sentiment(-0.1, drifting),
            amount=cost,
            amount_type="cost_to_serve",
        )
        if cause == "slow_service_response":
            self.add(
                at + timedelta(days=rng.uniform(3, 8)),
                "service",
                "ticket_escalated",
                "inbound",
                employee=agent,
                issue=issue,
                sentiment=-0.6,
            )
            resolve_after = rng.uniform(10, 25)
        else:
            resolve_after = rng.uniform(0.1, 2.0)
        if cause == "unresolved_complaints":
            self.add(
                at + timedelta(days=rng.uniform(1, 6)),
                "service",
                "complaint",
                "inbound",
                employee=agent,
                issue=issue,
                sentiment=self.sentiment(-0.5, True),
            )
            if rng.random() < 0.3:
                self.add(
                    at + timedelta(days=rng.uniform(2, 9)),
                    "social",
                    "social_complaint",
                    "inbound",
                    sentiment=-0.8,
                )
            return  # never resolved
        resolved = at + timedelta(days=resolve_after)
        self.add(
            resolved,
            "service",
            "ticket_resolved",
            "outbound",
            employee=agent,
            issue=issue,
            sentiment=self.sentiment(0.3, drifting),
        )
        if drifting and rng.random() < 0.3:
            self.add(
                resolved + timedelta(days=rng.uniform(2, 10)),
                "service",
                "ticket_reopened",
                "inbound",
                employee=agent,
                issue=issue,
                sentiment=-0.5,
            )
        if not drifting and issue == UPSELL_ISSUE and rng.random() < 0.3:
            self.add(
                resolved + timedelta(days=rng.uniform(5, 30)),
                "sales",
                "upsell",
                "inbound",
                employee=self.truth.owner,
                amount=p.order_value * 1.5,
                amount_type="revenue",
                sentiment=self.sentiment(0.6, False),
            )
        if not drifting and rng.random() < 0.3:
            self.add(
                resolved + timedelta(days=rng.uniform(1, 7)),
                "service",
                "survey_response",
                "inbound",
                sentiment=self.sentiment(p.sentiment, False),
            )

    def _leave(self, at: datetime) -> None:
        self.add(
            at,
            "sales",
            "cancellation",
            "inbound",
            employee=self.truth.owner,
            sentiment=self.sentiment(-0.4, True),
        )
        self.add(at + timedelta(days=1), "finance", "credit_note", "outbound")

    def due(self, before: datetime) -> Iterator[_Event]:
        while self.pending and self.pending[0].at < before:
            yield heapq.heappop(self.pending)


def generate(config: DemoConfig) -> tuple[DemoTruth, Iterator[dict[str, Any]]]:
    """The hidden truth, and the company's interactions in time order (a stream)."""
    if config.customers < 0 or config.days < MONTH or config.employees < 1:
        raise ValueError("customers >= 0, days >= 30 and employees >= 1")
    truth = _truth(config)

    def stream() -> Iterator[dict[str, Any]]:
        simulations = [_Customer(c, config, truth.star_employees) for c in truth.customers]
        months = math.ceil(config.days / MONTH)
        for month in range(months):
            month_start = config.start + timedelta(days=month * MONTH)
            month_end = min(month_start + timedelta(days=MONTH), config.end)
            for simulation in simulations:
                simulation.simulate(month_start, truth.employees)
            # Events land at most ~45 days after the month that made them, so everything
            # before this month's end is final once every customer has simulated it.
            due = heapq.merge(*(s.due(month_end) for s in simulations))
            for event in due:
                yield event.item

    return truth, stream()


def write_jsonl(config: DemoConfig, path: Path, truth_path: Path | None = None) -> int:
    """Writes the items as JSON lines (and the truth as JSON); returns the item count."""
    truth, items = generate(config)
    count = 0
    with path.open("w") as out:
        for item in items:
            out.write(json.dumps(item, separators=(",", ":")) + "\n")
            count += 1
    if truth_path is not None:
        truth_path.write_text(json.dumps(truth_to_dict(truth), indent=2))
    return count
