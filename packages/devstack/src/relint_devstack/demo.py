"""A simulated company: its customers over two years across every channel, with a hidden truth.

Each customer has a hidden relationship type (acquaintance, fair-weather friend, BFF,
partner) that shapes everything it does: how often it buys and for how much, what it costs
to serve, how it answers marketing and promotions, whether it advocates. Some customers
drift away and leave, for a cause that shows in the weeks before: unresolved complaints, a
price increase without notice, slow service, or neglect. Their cadence falls, their mood
sours, churn-driving issue types pile up, then a cancellation and silence. A few employees
are stars whose customers stay longer, grow more and are happier; some service issue types
foreshadow loss while others, once resolved, open the door to an upsell; engagement on
community and social leads purchases by about a month.

Later features are tested against this truth (`DemoTruth`). Generation is pure and
deterministic: `random.Random` seeded from the `DemoConfig` and the customer's id, never the
global generator or the clock, so the same config gives the same items and truth on every
machine, and the first N customers are the same whatever the total. Items stream month by
month in time order; memory holds one month of events, so any size works.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

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
ENGAGEMENT_LEAD_DAYS = MONTH  # engagement in one month raises purchases in the next
SOURCE = "demo"
CURRENCY = "EUR"
# Interactions that machines send at any hour; people work 08:00-18:00 in their own zone.
AUTOMATED = frozenset(
    {
        "email_sent@marketing",
        "email_opened@marketing",
        "email_clicked@marketing",
        "invoice_sent@finance",
        "invoice_paid@finance",
        "invoice_overdue@finance",
        "payment_failed@finance",
        "outage@operations",
        "usage_increase@operations",
        "usage_decrease@operations",
        "follow@social",
        "share@social",
        "mention@social",
    }
)


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

    purchases: float  # outside promotions
    order_value: float
    promo_buying: float  # chance of buying in each promotion
    tickets: float
    ticket_cost: float
    newsletters: float
    marketing_response: float
    discount_asks: float
    advocacy: float
    community: float
    care: float  # the owner's check-ins
    emails: float  # the owner's emails
    sentiment: float
    churn: float  # chance of leaving within the two years


# Revenue per month ~30 / ~30 / ~250 / ~500 and cost to serve ~15 / ~25 / ~35 / ~45: the
# top customers bring ~16x and cost ~3x what the bottom ones do (the articles' benchmark),
# through volume and care, not through price. Fair-weather friends buy when there is a
# deal, ask for discounts and take more service than they pay for.
PROFILES: dict[str, Profile] = {
    "acquaintance": Profile(
        purchases=0.3,
        order_value=100,
        promo_buying=0.05,
        tickets=0.2,
        ticket_cost=70,
        newsletters=3.0,
        marketing_response=0.10,
        discount_asks=0.02,
        advocacy=0.01,
        community=0.03,
        care=0.1,
        emails=0.4,
        sentiment=0.15,
        churn=0.35,
    ),
    "fair_weather_friend": Profile(
        purchases=0.1,
        order_value=110,
        promo_buying=0.85,
        tickets=0.35,
        ticket_cost=80,
        newsletters=4.5,
        marketing_response=0.45,
        discount_asks=0.25,
        advocacy=0.03,
        community=0.08,
        care=0.2,
        emails=0.5,
        sentiment=0.1,
        churn=0.45,
    ),
    "bff": Profile(
        purchases=1.3,
        order_value=190,
        promo_buying=0.2,
        tickets=0.3,
        ticket_cost=80,
        newsletters=3.0,
        marketing_response=0.25,
        discount_asks=0.05,
        advocacy=0.25,
        community=0.6,
        care=0.6,
        emails=2.0,
        sentiment=0.45,
        churn=0.12,
    ),
    "partner": Profile(
        purchases=1.8,
        order_value=220,
        promo_buying=0.25,
        tickets=0.3,
        ticket_cost=80,
        newsletters=2.0,
        marketing_response=0.2,
        discount_asks=0.03,
        advocacy=0.35,
        community=1.0,
        care=0.8,
        emails=2.5,
        sentiment=0.5,
        churn=0.08,
    ),
}


@dataclass(frozen=True)
class Promotion:
    """A company-wide sale; fair-weather friends buy in it, others hardly notice."""

    name: str
    starts: datetime
    ends: datetime
    discount_pct: int


@dataclass(frozen=True)
class Outage:
    """A service incident that hit a share of the customers."""

    starts: datetime
    hours: float
    share: float


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
    promotions: tuple[Promotion, ...] = ()
    outages: tuple[Outage, ...] = ()
    # The yearly price review: announced ahead (60 days to BFFs and partners, 30 to the rest).
    price_reviews: tuple[datetime, ...] = ()
    churn_driving_issue_types: tuple[str, ...] = CHURN_DRIVING_ISSUES
    benign_issue_types: tuple[str, ...] = BENIGN_ISSUES
    upsell_issue_type: str = UPSELL_ISSUE
    drift_days: int = DRIFT_DAYS
    engagement_lead_days: int = ENGAGEMENT_LEAD_DAYS

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


# -- the hidden truth ------------------------------------------------------------------------

_FIRST = (
    "North", "Blue", "Iron", "Bright", "Silver", "Oak", "Summit", "Harbor", "Pine", "Nova",
    "Red", "Green", "Stone", "Cedar", "River", "Maple", "Golden", "Swift", "Clear", "High",
)  # fmt: skip
_SECOND = (
    "wind", "stone", "field", "bridge", "light", "works", "gate", "point", "line", "peak",
    "brook", "ridge", "haven", "crest", "vale", "mark", "well", "port", "wood", "way",
)  # fmt: skip
_SUFFIX = (
    "Traders", "Ltd", "GmbH", "Labs", "Foods", "Logistics", "Studio", "Retail", "AG", "Co",
    "Partners", "Systems", "Health", "Media", "Supply", "BV", "SA", "Group", "Tools", "Farms",
)  # fmt: skip
_OFFSETS = (-5, -3, 0, 1, 1, 1, 2, 5, 8, 10)


def office_hours(at: datetime, offset_hours: int) -> datetime:
    """`at`, or the next morning if it falls outside 08:00-18:00 local time.

    Only ever forward, by at most 14 hours: the night's events land 08:00-09:00 next day, in
    their order. Follow-ups are scheduled from the moment what they follow was mapped to, so
    a reply never lands before its question.
    """
    zone = timezone(timedelta(hours=offset_hours))
    local = at.astimezone(zone)
    evening = local.replace(hour=18, minute=0, second=0, microsecond=0)
    if local.hour < 8:
        evening -= timedelta(days=1)
    elif local.hour < 18:
        return at
    night = (local - evening).total_seconds() / (14 * 3600)
    morning = evening + timedelta(hours=14, seconds=night * 3600)
    return morning.astimezone(UTC).replace(microsecond=0)


def _calendar(
    config: DemoConfig, rng: random.Random
) -> tuple[tuple[Promotion, ...], tuple[Outage, ...], tuple[datetime, ...]]:
    # name, month, day, length in days, discount in percent
    sales = (
        ("Spring sale", 3, 10, 10, 15),
        ("Summer deals", 6, 20, 10, 10),
        ("Black Friday week", 11, 24, 8, 25),
    )
    promotions = []
    for year in range(config.start.year, config.end.year + 1):
        for name, month, day, length, pct in sales:
            starts = datetime(year, month, day, 9, tzinfo=UTC)
            if config.start <= starts and starts + timedelta(days=length) <= config.end:
                promotions.append(
                    Promotion(f"{name} {year}", starts, starts + timedelta(days=length), pct)
                )
    outages = []
    for _ in range(max(1, config.days // 120)):
        starts = config.start + timedelta(days=rng.uniform(10, config.days - 10))
        outages.append(
            Outage(
                starts.replace(microsecond=0), round(rng.uniform(1, 8), 1), rng.uniform(0.1, 0.4)
            )
        )
    # The yearly price review takes effect in mid-January and is announced up to 60 days ahead.
    reviews = tuple(
        review
        for n in range(1, config.days // 365 + 2)
        if (review := config.start + timedelta(days=365 * n + 75)) - timedelta(days=60) < config.end
    )
    return tuple(promotions), tuple(sorted(outages, key=lambda o: o.starts)), reviews


def _truth(config: DemoConfig) -> DemoTruth:
    rng = random.Random(f"relint-demo-truth-{config.seed}")  # noqa: S311 - simulation, not secrets
    employees = tuple(f"emp-{n:03d}" for n in range(1, config.employees + 1))
    stars = tuple(sorted(rng.sample(employees, max(1, config.employees // 6))))
    promotions, outages, reviews = _calendar(config, rng)
    customers = []
    for n in range(1, config.customers + 1):
        kind = rng.choices(RELATIONSHIP_TYPES, TYPE_SHARES)[0]
        owner = rng.choice(employees)
        offset = rng.choice(_OFFSETS)
        # Customers arrive over the first 60% of the period; partners tend to be older.
        earliest = 0.0 if kind == "partner" else 0.05
        joined = config.start + timedelta(days=config.days * rng.uniform(earliest, 0.6))
        joined = office_hours(joined.replace(microsecond=0), offset)
        churn_chance = PROFILES[kind].churn * (0.4 if owner in stars else 1.0)
        lifetime_end = config.end - timedelta(days=30)
        room = (lifetime_end - joined).days - 150
        churned = room > 0 and rng.random() < churn_chance
        churned_at = None
        if churned:
            churned_at = joined + timedelta(days=150 + rng.uniform(0, room))
            churned_at = office_hours(churned_at.replace(microsecond=0), offset)
        # Each cause has its own likelihood per type: partners and BFFs feel a price change
        # as betrayal, acquaintances mostly just fade away.
        weights = {
            "acquaintance": (2, 1, 2, 4),
            "fair_weather_friend": (2, 3, 2, 2),
            "bff": (2, 4, 2, 2),
            "partner": (2, 4, 2, 2),
        }[kind]
        cause = rng.choices(CHURN_CAUSES, weights)[0]
        customers.append(
            CustomerTruth(
                external_id=f"cust-{n:05d}",
                name=f"{rng.choice(_FIRST)}{rng.choice(_SECOND)} {rng.choice(_SUFFIX)}",
                relationship_type=kind,
                owner=owner,
                joined_at=joined,
                churned=churned,
                churned_at=churned_at,
                churn_cause=cause if churned else None,
                utc_offset_hours=offset,
            )
        )
    return DemoTruth(
        config,
        tuple(customers),
        employees,
        stars,
        promotions=promotions,
        outages=outages,
        price_reviews=reviews,
    )


# -- words -----------------------------------------------------------------------------------

_PRODUCTS = ("analytics", "storage", "the starter kit", "the support plan", "the integration pack")
_PROBLEMS = {
    "billing_error": (
        "we were charged twice this month.",
        "the invoice shows seats we never ordered.",
        "our discount is missing from the invoice.",
    ),
    "outage": (
        "the service was down all morning.",
        "nobody here can log in since 9am.",
        "the dashboard times out again.",
    ),
    "data_loss": (
        "records we entered yesterday are gone.",
        "half of last week's orders vanished.",
        "the import wiped our customer notes.",
    ),
    "how_to": (
        "how do we export the monthly report?",
        "where do we change the invoice address?",
        "how do we add a new user?",
    ),
    "feature_request": (
        "could you add an API for bulk updates?",
        "we would love a weekly summary email.",
        "can the report be filtered by region?",
    ),
    "password_reset": (
        "a colleague cannot log in.",
        "the reset link has expired.",
        "our admin is locked out.",
    ),
}
_TEXTS: dict[str, tuple[str, ...]] = {
    "demo": ("Product demo of {product} for the team.", "Walked them through {product}."),
    "contract_signed": ("Signed the framework agreement.", "Signed a two-year agreement."),
    "onboarding": ("Onboarding kick-off, accounts set up.", "Onboarding done: data imported."),
    "purchase": ("Order placed for {product}.", "Reordered {product}.", "Bought {product}."),
    "promo_purchase": ("Ordered {product} in the {promotion}.", "Bought {product} on sale."),
    "quote": ("Sent a quote for {product}.", "Quote for next quarter's {product} order."),
    "proposal": ("Proposal to extend {product} to another team.",),
    "upsell": ("Upgraded to the premium {product} plan.", "Added more {product} seats."),
    "renewal": ("Renewed the annual contract.", "Contract renewed for another year."),
    "call": ("Quick call about their next order.", "Call: asked about delivery times."),
    "meeting": ("Meeting on their roadmap for next year.", "Lunch meeting with their lead."),
    "business_review": (
        "Quarterly business review: goals for next quarter agreed.",
        "Business review: usage up, planning the next rollout.",
    ),
    "check_in": (
        "Check-in call: everything running smoothly.",
        "Checked in after their last order, all good.",
    ),
    "discount_requested": (
        "Can you do better on the price for {product}?",
        "Asked for a discount before ordering {product}.",
        "Will there be a sale on {product} soon?",
    ),
    "discount_refused": ("Explained that list prices apply outside promotions.",),
    "campaign_response": ("Clicked through the {promotion} offer.", "Asked about the {promotion}."),
    "content_download": ("Downloaded the guide to {product}.",),
    "webinar_attended": ("Joined the webinar on getting more out of {product}.",),
    "marketing_event": ("Visited our stand at the trade fair.",),
    "newsletter": ("Newsletter: what's new in {product}.", "Tips: five ways to use {product}."),
    "promo_mail": ("{promotion}: {pct}% off across the range, this week only.",),
    "ticket_opened": ("{problem}", "Ticket: {problem}", "Urgent: {problem}"),
    "ticket_resolved": ("Resolved: {issue}.", "Fixed the {issue} problem and confirmed."),
    "ticket_escalated": ("Escalated the {issue} ticket, still no answer after {days} days.",),
    "ticket_reopened": ("Reopened: the {issue} problem is back.",),
    "survey_response": ("Rated {score}/10.", "Rated {score}/10: {comment}"),
    "post": (
        "Shared how we use {product} in our workflow.",
        "Our setup for {product}, step by step.",
    ),
    "answer": ("Answered another customer's question about {product}.",),
    "community_event": ("Came to the user group meetup.", "Spoke at the community day."),
    "referral": ("Introduced us to a peer company that needs the same.",),
    "co_marketing": ("Joint case study published together.", "Co-hosted a webinar with us."),
    "mention": ("Mentioned us in a post about their suppliers.",),
    "share": ("Shared our announcement.",),
    "email_sent": (
        "Following up on your last order.",
        "Agenda for our next call.",
        "A few ideas for {product}.",
    ),
    "email_received": ("Thanks, that works for us.", "Question about {product}.", "Sounds good."),
    "delivery": ("Delivered {product}.",),
    "delivery_late": ("Delivery of {product} is running late.",),
    "refund": ("Refunded the overcharge.", "Refund for the late delivery."),
    "credit_note": ("Credit note for the unused part of the contract.",),
    "outage": ("Incident notice: service unavailable for {hours} hours; we are sorry.",),
}
_REVIEWS = {
    "partner": (
        "Feels like an extension of our own team. We recommend them to every peer.",
        "Five stars: they invest in our success and we in theirs.",
    ),
    "bff": (
        "Reliable and responsive, our go-to supplier for years.",
        "Great people, they always pick up the phone.",
    ),
    "fair_weather_friend": (
        "Good deals in the sales, otherwise a bit pricey.",
        "Fine when it's discounted.",
    ),
    "acquaintance": ("Does the job.", "Solid product, nothing fancy."),
}
_COMPLAINTS = {
    "unresolved_complaints": (
        "Our ticket about {issue} has been open for weeks and nobody fixed it.",
        "This is the third time we raise the {issue} problem. Still not solved.",
    ),
    "price_increase_without_notice": (
        "Our invoice went up {pct}% and nobody told us beforehand.",
        "A price increase without any notice is not how you treat long-standing customers.",
    ),
    "slow_service_response": (
        "We waited {days} days for a first answer on our ticket.",
        "Support takes days to respond; we cannot work like this.",
    ),
    "neglect": (
        "We have not heard from our account manager in months.",
        "Nobody has checked in on us since onboarding.",
    ),
    None: (
        "The delivery arrived late again.",
        "Your hold music is the only thing we hear from support today.",
    ),
}
_CANCELLATIONS = {
    "unresolved_complaints": "We are cancelling: our open issues were never resolved.",
    "price_increase_without_notice": "We are cancelling after the unannounced price increase.",
    "slow_service_response": "Cancelling our contract; support is far too slow for us.",
    "neglect": "We have decided not to renew; we no longer see the value.",
}
_UNANSWERED = (
    "Is anyone still looking after our account?",
    "Following up again on my last email.",
    "Who is our contact now?",
)
_SOCIAL_COMPLAINTS = (
    "Service has gone downhill lately. Looking at alternatives.",
    "Still waiting for support to get back to us. Not impressed.",
)
_SURVEY_COMMENTS = (
    (7, ("quick and friendly help", "solved on the first try")),
    (4, ("ok in the end", "took a while")),
    (0, ("nobody seems to care", "still not fixed")),
)


# -- the simulation --------------------------------------------------------------------------


class _Event(NamedTuple):
    """A pending interaction; orders by time, then customer, then creation."""

    ts: float
    customer: int
    seq: int
    at: datetime
    channel: str
    kind: str
    direction: str
    sentiment: float | None
    amount: float | None
    amount_type: str | None
    employee: str | None
    text: str | None
    attributes: dict[str, Any] | None


class _State:
    """What a customer's simulation carries from one month to the next."""

    __slots__ = ("count", "engagement", "last_review", "pending", "tickets", "unsubscribed")

    def __init__(self) -> None:
        self.count = 0
        self.tickets = 0
        self.engagement = 0.6  # this month's, feeds next month's purchases
        self.last_review: datetime | None = None
        self.unsubscribed = False
        self.pending: list[_Event] = []


class _Month:
    """One customer's month: draws from `rng` (seeded for this customer and month)."""

    def __init__(
        self,
        truth: DemoTruth,
        index: int,
        customer: CustomerTruth,
        state: _State,
        rng: random.Random,
        begin: datetime,
        end: datetime,
    ) -> None:
        self.truth = truth
        self.index = index
        self.customer = customer
        self.state = state
        self.rng = rng
        self.profile = PROFILES[customer.relationship_type]
        self.star = customer.owner in truth.star_employees
        self.window_start = begin
        self.begin = max(begin, customer.joined_at)
        self.end = end
        self.days = (end - self.begin).total_seconds() / 86400
        self.drift_mid = self.drift(self.begin + (end - self.begin) / 2)
        # Cadence falls as a customer drifts away: a tenth of it by the time they leave.
        self.fade = 1.0 - 0.9 * self.drift_mid
        self.cause = customer.churn_cause if self.drift_mid > 0 else None
        # Nothing happens after a customer leaves but the cancellation's own aftermath.
        self.limit = min(truth.config.end, customer.churned_at or truth.config.end)
        self.final_limit = min(
            truth.config.end,
            customer.churned_at + timedelta(days=2) if customer.churned_at else truth.config.end,
        )

    # -- building events -------------------------------------------------------------------
    def drift(self, at: datetime) -> float:
        """0 while the relationship holds, rising to 1 on the day the customer leaves."""
        churned_at = self.customer.churned_at
        if churned_at is None:
            return 0.0
        left = (churned_at - at).total_seconds() / 86400
        return min(1.0, max(0.0, 1.0 - left / DRIFT_DAYS))

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
        text: str | None = None,
        attributes: dict[str, Any] | None = None,
        final: bool = False,
    ) -> datetime | None:
        """Schedules an interaction; returns when it happens, or None if it never does.

        `final` marks the leaving itself and its aftermath, the only things allowed at or
        (a day or two) after the moment a customer leaves.
        """
        at = max(at, self.window_start).replace(microsecond=0)
        if f"{kind}@{channel}" not in AUTOMATED:
            at = office_hours(at, self.customer.utc_offset_hours)
        if at < self.customer.joined_at or at >= (self.final_limit if final else self.limit):
            return None
        state = self.state
        state.count += 1
        if sentiment is not None:
            sentiment = round(max(-1.0, min(1.0, sentiment)), 2)
        event = _Event(
            at.timestamp(),
            self.index,
            state.count,
            at,
            channel,
            kind,
            direction,
            sentiment,
            amount,
            amount_type,
            employee,
            text,
            attributes,
        )
        heapq.heappush(state.pending, event)
        return at

    def say(self, key: str, **words: Any) -> str:
        template = self.rng.choice(_TEXTS[key])
        words.setdefault("product", self.rng.choice(_PRODUCTS))
        return template.format(**words)

    def times(
        self, rate: float, start: datetime | None = None, days: float | None = None
    ) -> list[datetime]:
        """Moments of a Poisson process with `rate` per 30 days over the window."""
        start = self.begin if start is None else start
        days = self.days if days is None else days
        moments: list[datetime] = []
        if rate <= 0 or days <= 0:
            return moments
        t = self.rng.expovariate(rate / MONTH)
        while t < days:
            moments.append(start + timedelta(days=t))
            t += self.rng.expovariate(rate / MONTH)
        return moments

    def some_time(self) -> datetime:
        return self.begin + timedelta(days=self.rng.uniform(0, self.days))

    def mood(self, base: float, at: datetime | None = None, spread: float = 0.25) -> float:
        """A sentiment: the type's base, better with a star owner, souring with the drift."""
        drift = self.drift_mid if at is None else self.drift(at)
        bonus = 0.15 if self.star else 0.0
        return self.rng.gauss(base + bonus - 0.7 * drift, spread)

    # -- one month -------------------------------------------------------------------------
    def run(self) -> None:
        customer = self.customer
        if self.window_start <= customer.joined_at < self.end:
            self.onboard()
        if customer.churned_at is not None and self.begin > customer.churned_at:
            return
        self.purchases()
        self.promotions()
        self.engagement()
        self.marketing()
        self.service()
        self.outages()
        self.care()
        self.pricing()
        self.lifecycle()

    def onboard(self) -> None:
        customer, p = self.customer, self.profile
        at = customer.joined_at
        owner = customer.owner
        self.add(at, "sales", "demo", "outbound", employee=owner, text=self.say("demo"))
        if customer.relationship_type in ("partner", "bff"):
            self.add(
                at + timedelta(days=3),
                "sales",
                "contract_signed",
                "inbound",
                employee=owner,
                sentiment=0.6,
                text=self.say("contract_signed"),
            )
        self.add(
            at + timedelta(days=5),
            "operations",
            "onboarding",
            "outbound",
            employee=owner,
            amount=p.ticket_cost * 1.5,
            amount_type="cost_to_serve",
            text=self.say("onboarding"),
        )
        if self.rng.random() < 0.3 + p.advocacy:
            self.add(at + timedelta(days=self.rng.uniform(1, 20)), "social", "follow", "inbound")

    def order(
        self,
        at: datetime,
        value: float,
        words_key: str,
        attributes: dict[str, Any] | None = None,
        **words: Any,
    ) -> None:
        """A purchase and what follows it: quote, invoice, payment, delivery."""
        rng, owner = self.rng, self.customer.owner
        drift = self.drift(at)
        words["product"] = product = rng.choice(_PRODUCTS)
        if value > 400 and rng.random() < 0.6:
            quoted = self.add(
                at - timedelta(days=rng.uniform(3, 10)),
                "sales",
                "quote",
                "outbound",
                employee=owner,
                text=self.say("quote", product=product),
            )
            if quoted is not None:
                at = max(at, quoted + timedelta(hours=1))
        bought = self.add(
            at,
            "sales",
            "purchase",
            "inbound",
            sentiment=self.mood(self.profile.sentiment + 0.2, at),
            amount=value,
            amount_type="revenue",
            employee=owner,
            text=self.say(words_key, **words),
            attributes=attributes,
        )
        if bought is None:
            return
        self.add(
            bought + timedelta(hours=rng.uniform(2, 30)), "finance", "invoice_sent", "outbound"
        )
        if rng.random() < 0.02 + 0.2 * drift:
            self.add(
                bought + timedelta(days=rng.uniform(2, 6)), "finance", "payment_failed", "inbound"
            )
        late = rng.random() < 0.05 + 0.35 * drift
        paid_after = rng.uniform(31, 45) if late else rng.uniform(3, 14)
        if late:
            self.add(bought + timedelta(days=31), "finance", "invoice_overdue", "outbound")
        self.add(bought + timedelta(days=paid_after), "finance", "invoice_paid", "inbound")
        delivered = bought + timedelta(days=rng.uniform(2, 6))
        if rng.random() < 0.04 + 0.15 * drift:
            self.add(
                delivered,
                "operations",
                "delivery_late",
                "outbound",
                amount=rng.uniform(10, 30),
                amount_type="cost_to_serve",
                text=self.say("delivery_late", product=product),
            )
            delivered += timedelta(days=rng.uniform(3, 8))
            if rng.random() < 0.3:
                self.add(
                    delivered + timedelta(days=1),
                    "finance",
                    "refund",
                    "outbound",
                    amount=value * 0.1,
                    amount_type="refund",
                    text=self.say("refund"),
                )
        self.add(
            delivered,
            "operations",
            "delivery",
            "outbound",
            text=self.say("delivery", product=product),
        )

    def purchases(self) -> None:
        p, rng, state = self.profile, self.rng, self.state
        # Purchases follow last month's engagement (the lead the engagement lens finds).
        growth = 1.2 if self.star else 1.0
        rate = p.purchases * (0.5 + state.engagement) * self.fade * growth
        for at in self.times(rate):
            value = rng.lognormvariate(math.log(p.order_value), 0.4)
            self.order(at, value, "purchase")
        for at in self.times(p.discount_asks * (1 + self.drift_mid)):
            asked = self.add(
                at,
                "sales",
                "discount_requested",
                "inbound",
                employee=self.customer.owner,
                sentiment=self.mood(0.0, at),
                text=self.say("discount_requested"),
            )
            if asked is not None and rng.random() < 0.5:
                self.add(
                    asked + timedelta(days=rng.uniform(0.5, 3)),
                    "sales",
                    "discount_refused",
                    "outbound",
                    employee=self.customer.owner,
                    sentiment=self.mood(-0.3, at),
                    text=self.say("discount_refused"),
                )

    def promotions(self) -> None:
        p, rng = self.profile, self.rng
        for promo in self.truth.promotions:
            if not (self.begin <= promo.starts < self.end):
                continue
            words = {"promotion": promo.name, "pct": promo.discount_pct}
            if not self.state.unsubscribed:
                self.add(
                    promo.starts,
                    "marketing",
                    "email_sent",
                    "outbound",
                    text=self.say("promo_mail", **words),
                    attributes={"campaign": promo.name},
                )
            if rng.random() >= p.promo_buying * self.fade:
                continue
            length = (promo.ends - promo.starts).total_seconds() / 86400
            at = promo.starts + timedelta(days=rng.uniform(0.2, length))
            responded = self.add(
                at - timedelta(hours=rng.uniform(1, 24)),
                "marketing",
                "campaign_response",
                "inbound",
                sentiment=self.mood(0.4, at),
                text=self.say("campaign_response", **words),
                attributes={"campaign": promo.name},
            )
            if responded is not None:
                at = max(at, responded + timedelta(minutes=rng.uniform(10, 120)))
            value = rng.lognormvariate(math.log(p.order_value * 1.3), 0.3)
            self.order(
                at,
                value * (1 - promo.discount_pct / 100),
                "promo_purchase",
                {"campaign": promo.name, "discount_pct": promo.discount_pct},
                **words,
            )

    def engagement(self) -> None:
        """Community and social this month, which feeds next month's purchases."""
        p, rng, state = self.profile, self.rng, self.state
        state.engagement = min(1.5, max(0.1, 0.6 * state.engagement + rng.uniform(0.0, 0.8)))
        state.engagement *= 1.0 - 0.6 * self.drift_mid
        kind_type = self.customer.relationship_type
        for at in self.times(p.community * state.engagement):
            kind = rng.choice(("post", "answer", "event_attended"))
            key = "community_event" if kind == "event_attended" else kind
            self.add(
                at, "community", kind, "inbound", sentiment=self.mood(0.5, at), text=self.say(key)
            )
        for at in self.times(p.advocacy * state.engagement * self.fade):
            kind = rng.choices(
                ("review", "referral", "co_marketing", "mention", "share"),
                (3, 2, 2 if kind_type == "partner" else 0, 3, 2),
            )[0]
            channel = "community" if kind in ("referral", "co_marketing") else "social"
            if kind == "review":
                text = rng.choice(_REVIEWS[kind_type])
                base = {"partner": 0.85, "bff": 0.75}.get(kind_type, 0.3)
                attributes: dict[str, Any] | None = {"stars": 5 if base > 0.5 else 4}
            else:
                text, base, attributes = self.say(kind), 0.6, None
            self.add(
                at,
                channel,
                kind,
                "inbound",
                sentiment=self.mood(base, at, 0.15),
                text=text,
                attributes=attributes,
            )

    def marketing(self) -> None:
        p, rng, state = self.profile, self.rng, self.state
        if state.unsubscribed:
            return
        for at in self.times(p.newsletters):
            sent = self.add(at, "marketing", "email_sent", "outbound", text=self.say("newsletter"))
            if sent is None or rng.random() >= p.marketing_response * self.fade:
                continue
            self.add(
                sent + timedelta(hours=rng.uniform(1, 48)), "marketing", "email_opened", "inbound"
            )
            if rng.random() < 0.4:
                self.add(
                    sent + timedelta(hours=rng.uniform(48, 72)),
                    "marketing",
                    "email_clicked",
                    "inbound",
                )
                if rng.random() < 0.3:
                    self.add(
                        sent + timedelta(days=rng.uniform(3, 6)),
                        "marketing",
                        "content_download",
                        "inbound",
                        text=self.say("content_download"),
                    )
        if rng.random() < 0.06 * (1 + p.marketing_response) * self.fade:
            self.add(
                self.some_time(),
                "marketing",
                "webinar_attended",
                "inbound",
                sentiment=self.mood(0.4),
                text=self.say("webinar_attended"),
            )
        if rng.random() < 0.02 * (1 + p.community):
            self.add(
                self.some_time(),
                "marketing",
                "event_attended",
                "inbound",
                sentiment=self.mood(0.4),
                text=self.say("marketing_event"),
            )
        leaving = 0.004 if self.drift_mid == 0 else 0.25 * self.drift_mid
        if rng.random() < leaving and self.add(
            self.some_time(), "marketing", "unsubscribe", "inbound"
        ):
            state.unsubscribed = True

    # -- service ---------------------------------------------------------------------------
    def service(self) -> None:
        p, cause = self.profile, self.cause
        rate = p.tickets * (
            2.5 if cause in ("unresolved_complaints", "slow_service_response") else 1.0
        )
        if cause == "neglect":
            rate *= 0.5  # they stop even asking
        for at in self.times(rate):
            self.ticket(at, self.pick_issue(at))
        # Now and then a complaint from a happy customer too, so that one alone proves nothing.
        if self.rng.random() < 0.02 + (0.5 * self.drift_mid if cause else 0.0):
            at = self.some_time()
            words = {"issue": "delivery", "pct": 12, "days": self.rng.randint(4, 9)}
            template = self.rng.choice(_COMPLAINTS[cause])
            complained = self.add(
                at,
                "service",
                "complaint",
                "inbound",
                sentiment=self.mood(-0.5, at),
                employee=self.customer.owner,
                text=template.format(**words),
            )
            if complained is not None and not cause:  # a happy customer's is put right
                self.add(
                    complained + timedelta(hours=20),
                    "service",
                    "complaint_resolved",
                    "outbound",
                    employee=self.customer.owner,
                    text="We put the delivery right and confirmed it with you.",
                )

    def pick_issue(self, at: datetime) -> str:
        rng, cause = self.rng, self.cause
        drift = self.drift(at)
        if rng.random() >= 0.08 + 0.75 * drift:
            return rng.choice(BENIGN_ISSUES)
        if cause == "price_increase_without_notice":
            return "billing_error"
        return rng.choice(CHURN_DRIVING_ISSUES)

    def ticket(self, at: datetime, issue: str) -> None:
        rng, p, customer = self.rng, self.profile, self.customer
        state, cause = self.state, self.cause
        employees = self.truth.employees
        agent = rng.choice(employees)
        star_agent = agent in self.truth.star_employees
        state.tickets += 1
        ticket_id = f"{customer.external_id}-T{state.tickets:04d}"
        priority = "high" if customer.relationship_type in ("partner", "bff") else "normal"
        base = {"ticket_id": ticket_id, "issue_type": issue, "priority": priority}
        drift = self.drift(at)
        opened = self.add(
            at,
            "service",
            "ticket_opened",
            "inbound",
            employee=agent,
            sentiment=self.mood(-0.1 if issue in BENIGN_ISSUES else -0.5, at),
            amount=rng.lognormvariate(math.log(p.ticket_cost), 0.3),
            amount_type="cost_to_serve",
            text=self.say("ticket_opened", problem=rng.choice(_PROBLEMS[issue]).capitalize()),
            attributes=dict(base),
        )
        if opened is None:
            return
        issue_words = issue.replace("_", " ")
        # First response: within hours for BFFs and partners, a working day for the rest,
        # days when the service is too slow for the customer.
        if cause == "slow_service_response" and drift > 0:
            first_response = rng.uniform(48, 160)
        else:
            first_response = rng.uniform(0.5, 4) if priority == "high" else rng.uniform(2, 24)
            first_response *= 0.6 if star_agent else 1.0
        if cause == "slow_service_response" and drift > 0:
            self.add(
                opened + timedelta(hours=first_response * 0.8),
                "service",
                "ticket_escalated",
                "inbound",
                employee=agent,
                sentiment=self.mood(-0.5, at),
                text=self.say(
                    "ticket_escalated", issue=issue_words, days=int(first_response // 24)
                ),
                attributes=dict(base),
            )
        if cause == "unresolved_complaints" and drift > 0:
            self.add(
                opened + timedelta(days=rng.uniform(4, 12)),
                "service",
                "complaint",
                "inbound",
                employee=agent,
                sentiment=self.mood(-0.6, at),
                text=rng.choice(_COMPLAINTS[cause]).format(issue=issue_words),
                attributes=dict(base),
            )
            if rng.random() < 0.3:
                self.add(
                    opened + timedelta(days=rng.uniform(5, 14)),
                    "social",
                    "social_complaint",
                    "inbound",
                    sentiment=self.mood(-0.6, at),
                    text=rng.choice(_SOCIAL_COMPLAINTS),
                )
            return  # never resolved
        resolution = first_response + (
            rng.uniform(1, 48) if issue in BENIGN_ISSUES else rng.uniform(8, 96)
        )
        resolved = self.add(
            opened + timedelta(hours=resolution),
            "service",
            "ticket_resolved",
            "outbound",
            employee=agent,
            sentiment=self.mood(0.35 + (0.15 if star_agent else 0.0), at),
            text=self.say("ticket_resolved", issue=issue_words),
            attributes={
                **base,
                "first_response_hours": round(first_response, 1),
                "resolution_hours": round(resolution, 1),
            },
        )
        if resolved is None:
            return
        if issue == "billing_error":
            self.add(
                resolved + timedelta(days=1),
                "finance",
                "credit_note",
                "outbound",
                text=self.say("credit_note"),
                attributes={"ticket_id": ticket_id},
            )
        if drift > 0.3 and rng.random() < 0.35:
            self.add(
                resolved + timedelta(days=rng.uniform(2, 10)),
                "service",
                "ticket_reopened",
                "inbound",
                employee=agent,
                sentiment=self.mood(-0.5, at),
                text=self.say("ticket_reopened", issue=issue_words),
                attributes=dict(base),
            )
        elif issue == UPSELL_ISSUE and rng.random() < (0.5 if self.star else 0.3) * (1 - drift):
            proposed = self.add(
                resolved + timedelta(days=rng.uniform(3, 15)),
                "sales",
                "proposal",
                "outbound",
                employee=customer.owner,
                text=self.say("proposal"),
            )
            if proposed is not None:
                self.add(
                    proposed + timedelta(days=rng.uniform(5, 20)),
                    "sales",
                    "upsell",
                    "inbound",
                    employee=customer.owner,
                    amount=p.order_value * 1.5,
                    amount_type="revenue",
                    sentiment=self.mood(0.6, at),
                    text=self.say("upsell"),
                )
        if rng.random() < 0.3:
            sentiment = self.mood(p.sentiment + (0.2 if star_agent else 0.0), at)
            score = max(0, min(10, round(5 + 5 * sentiment)))
            comments = next(c for floor, c in _SURVEY_COMMENTS if score >= floor)
            self.add(
                resolved + timedelta(days=rng.uniform(1, 4)),
                "service",
                "survey_response",
                "inbound",
                sentiment=sentiment,
                text=self.say("survey_response", score=score, comment=rng.choice(comments)),
                attributes={"score": score, "ticket_id": ticket_id},
            )

    def outages(self) -> None:
        rng = self.rng
        for outage in self.truth.outages:
            if not (self.begin <= outage.starts < self.end) or rng.random() >= outage.share:
                continue
            self.add(
                outage.starts,
                "operations",
                "outage",
                "outbound",
                text=self.say("outage", hours=outage.hours),
                attributes={"hours": outage.hours},
            )
            if rng.random() < 0.3 + 0.4 * self.drift_mid:
                self.ticket(outage.starts + timedelta(minutes=rng.uniform(10, 90)), "outage")

    # -- account care ----------------------------------------------------------------------
    def care(self) -> None:
        p, rng, customer = self.profile, self.rng, self.customer
        owner, kind = customer.owner, customer.relationship_type
        if self.cause == "neglect":
            # Nobody calls; the customer uses less and less and their emails go unanswered.
            for at in self.times(1.0 + 2 * self.drift_mid):
                self.add(at, "operations", "usage_decrease", "inbound")
            for at in self.times(0.5):
                self.add(
                    at,
                    "email",
                    "email_received",
                    "inbound",
                    employee=owner,
                    sentiment=self.mood(0.0, at),
                    text=rng.choice(_UNANSWERED),
                )
            return
        for at in self.times(p.care):
            self.add(
                at,
                "service",
                "check_in",
                "outbound",
                employee=owner,
                sentiment=self.mood(p.sentiment, at),
                text=self.say("check_in"),
                amount=rng.uniform(5, 10),
                amount_type="cost_to_serve",
            )
        for at in self.times(p.emails):
            sent = self.add(
                at, "email", "email_sent", "outbound", employee=owner, text=self.say("email_sent")
            )
            if sent is not None and rng.random() < 0.7 * self.fade:
                self.add(
                    sent + timedelta(hours=rng.uniform(2, 72)),
                    "email",
                    "email_received",
                    "inbound",
                    employee=owner,
                    sentiment=self.mood(0.3, sent),
                    text=self.say("email_received"),
                )
        if kind in ("acquaintance", "fair_weather_friend") and rng.random() < 0.15:
            self.add(
                self.some_time(), "sales", "call", "outbound", employee=owner, text=self.say("call")
            )
        if kind in ("partner", "bff") and rng.random() < (0.5 if kind == "partner" else 0.2):
            self.add(
                self.some_time(),
                "sales",
                "meeting",
                "outbound",
                employee=owner,
                sentiment=self.mood(p.sentiment),
                text=self.say("meeting"),
            )
        # Partners get a business review every quarter, BFFs twice a year.
        every = {"partner": 85, "bff": 175}.get(kind)
        state = self.state
        if every and (state.last_review is None or (self.begin - state.last_review).days >= every):
            reviewed = self.add(
                self.begin + timedelta(days=rng.uniform(0, min(self.days, 10))),
                "sales",
                "business_review",
                "outbound",
                employee=owner,
                sentiment=self.mood(p.sentiment),
                amount=rng.uniform(30, 60),
                amount_type="cost_to_serve",
                text=self.say("business_review"),
            )
            if reviewed is not None:
                state.last_review = reviewed
        growing = 0.05 * p.purchases * (2.0 if self.star else 1.0) * (1 - self.drift_mid)
        if rng.random() < growing:
            self.add(self.some_time(), "operations", "usage_increase", "inbound")
        if self.drift_mid > 0.3 and rng.random() < self.drift_mid:
            self.add(self.some_time(), "operations", "usage_decrease", "inbound")

    def pricing(self) -> None:
        """The yearly price review, announced ahead; or, for some, a rise with no notice."""
        rng, customer = self.rng, self.customer
        top = customer.relationship_type in ("partner", "bff")
        for review in self.truth.price_reviews:
            notice = 60 if top else 30
            announced = review - timedelta(days=notice)
            if not (self.begin <= announced < self.end):
                continue
            if self.cause == "price_increase_without_notice":
                continue  # theirs comes unannounced (below)
            told = self.add(
                announced,
                "finance",
                "price_change",
                "outbound",
                text=f"New price list from {review:%d %B %Y}: +4% on most products.",
                attributes={"notice_days": notice, "increase_pct": 4},
            )
            if told is not None and top and self.cause != "neglect":
                self.add(
                    told + timedelta(days=rng.uniform(0, 5)),
                    "email",
                    "email_sent",
                    "outbound",
                    employee=customer.owner,
                    text="Walking you through next year's prices before they apply.",
                )
        churned_at = customer.churned_at
        if customer.churn_cause == "price_increase_without_notice" and churned_at is not None:
            raised = churned_at - timedelta(days=DRIFT_DAYS - 5)
            if self.begin <= raised < self.end:
                pct = rng.choice((12, 15, 20))
                changed = self.add(
                    raised,
                    "finance",
                    "price_change",
                    "outbound",
                    text=f"Prices updated: +{pct}%, effective immediately.",
                    attributes={"notice_days": 0, "increase_pct": pct},
                )
                self.add(
                    (changed or raised) + timedelta(days=rng.uniform(3, 10)),
                    "service",
                    "complaint",
                    "inbound",
                    employee=customer.owner,
                    sentiment=self.mood(-0.7, raised),
                    text=rng.choice(_COMPLAINTS["price_increase_without_notice"]).format(pct=pct),
                )

    def lifecycle(self) -> None:
        customer, p, rng = self.customer, self.profile, self.rng
        kind = customer.relationship_type
        anniversary = customer.joined_at + timedelta(days=365)
        renews = kind in ("partner", "bff") and self.drift(anniversary) == 0
        if renews and self.begin <= anniversary - timedelta(days=60) < self.end:
            self.add(  # the renewed contract's terms, announced with the notice they are owed
                anniversary - timedelta(days=60),
                "finance",
                "term_change",
                "outbound",
                employee=customer.owner,
                text=f"Your renewed contract from {anniversary:%d %B %Y}: support hours widen.",
                attributes={"notice_days": 60},
            )
        if renews and self.begin <= anniversary < self.end:
            self.add(
                anniversary,
                "sales",
                "renewal",
                "inbound",
                employee=customer.owner,
                amount=p.order_value * 4,
                amount_type="revenue",
                sentiment=self.mood(p.sentiment),
                text=self.say("renewal"),
            )
        churned_at, cause = customer.churned_at, customer.churn_cause
        if churned_at is None or cause is None or not (self.begin <= churned_at < self.end):
            return
        self.add(
            churned_at,
            "sales",
            "cancellation",
            "inbound",
            employee=customer.owner,
            sentiment=self.mood(-0.1, churned_at, 0.15),
            text=_CANCELLATIONS[cause],
            attributes={"reason": cause},
            final=True,
        )
        if cause in ("unresolved_complaints", "slow_service_response") and rng.random() < 0.5:
            self.add(
                churned_at + timedelta(hours=rng.uniform(2, 30)),
                "social",
                "review",
                "inbound",
                sentiment=self.mood(-0.7, churned_at, 0.1),
                text="We just left them. " + rng.choice(_SOCIAL_COMPLAINTS),
                attributes={"stars": 1},
                final=True,
            )
        self.add(
            churned_at + timedelta(days=1),
            "finance",
            "credit_note",
            "outbound",
            text=self.say("credit_note"),
            final=True,
        )


def _item(event: _Event, customer: CustomerTruth) -> dict[str, Any]:
    zone = timezone(timedelta(hours=customer.utc_offset_hours))
    item: dict[str, Any] = {
        "customer": {"external_id": customer.external_id, "name": customer.name},
        "occurred_at": event.at.astimezone(zone).isoformat(timespec="seconds"),
        "channel": event.channel,
        "kind": event.kind,
        "direction": event.direction,
        "source": SOURCE,
        "source_id": f"{customer.external_id}-{event.seq:06d}",
    }
    if event.sentiment is not None:
        item["sentiment"] = event.sentiment
    if event.amount is not None:
        item["amount"] = f"{max(event.amount, 1.0):.2f}"
        item["amount_type"] = event.amount_type
        item["currency"] = CURRENCY
    if event.employee is not None:
        item["employee"] = event.employee
    if event.text:
        item["text"] = event.text
    if event.attributes:
        item["attributes"] = dict(event.attributes)
    return item


def generate(config: DemoConfig) -> tuple[DemoTruth, Iterator[dict[str, Any]]]:
    """The hidden truth, and the company's interactions in time order (a stream)."""
    if config.customers < 0 or config.days < MONTH or config.employees < 1:
        raise ValueError("customers >= 0, days >= 30 and employees >= 1")
    truth = _truth(config)

    def stream() -> Iterator[dict[str, Any]]:
        states = [_State() for _ in truth.customers]
        rng = random.Random()  # noqa: S311 - reseeded per customer and month below
        months = math.ceil(config.days / MONTH)
        for month in range(months):
            month_start = config.start + timedelta(days=month * MONTH)
            month_end = min(month_start + timedelta(days=MONTH), config.end)
            before = month_end.timestamp()
            due: list[_Event] = []
            for index, (customer, state) in enumerate(zip(truth.customers, states, strict=True)):
                active = customer.joined_at < month_end and (
                    customer.churned_at is None or customer.churned_at >= month_start
                )
                if active:
                    rng.seed(f"relint-demo-{config.seed}-{customer.external_id}-{month}")
                    _Month(truth, index, customer, state, rng, month_start, month_end).run()
                # Events only ever land after the start of the month that made them, so
                # everything before this month's end is final now.
                pending = state.pending
                while pending and pending[0].ts < before:
                    due.append(heapq.heappop(pending))
            due.sort()
            for event in due:
                yield _item(event, truth.customers[event.customer])

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
