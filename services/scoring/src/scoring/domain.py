"""Scoring's pure rules: the signed contribution of one interaction to the Relationship Value.

This is the first, simple rule: a weight per kind, nudged by sentiment, with bad interactions
weighing twice what good ones do (the articles' asymmetry). The value is the sum of
contributions, so applying a set in any order gives the same value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Weights per canonical kind; kinds not listed are neutral (0).
KIND_WEIGHTS: dict[str, float] = {
    # goodwill and commitment
    "contract_signed": 4.0,
    "purchase": 3.0,
    "renewal": 5.0,
    "upsell": 4.0,
    "referral": 5.0,
    "co_marketing": 4.0,
    "review": 1.0,
    "business_review": 2.0,
    "demo": 1.0,
    "meeting": 1.0,
    "call": 0.5,
    "onboarding": 1.0,
    "usage_increase": 1.5,
    "ticket_resolved": 1.0,
    "check_in": 0.5,
    "survey_response": 0.5,
    "invoice_paid": 0.5,
    "email_received": 0.5,
    "post": 0.5,
    "answer": 0.5,
    "share": 0.5,
    "mention": 0.3,
    "follow": 0.2,
    "event_attended": 1.0,
    "webinar_attended": 0.5,
    "campaign_response": 0.5,
    "content_download": 0.3,
    "email_clicked": 0.3,
    "email_opened": 0.1,
    # friction and loss
    "ticket_opened": -0.5,
    "ticket_escalated": -2.0,
    "ticket_reopened": -2.0,
    "complaint": -4.0,
    "social_complaint": -4.0,
    "refund": -3.0,
    "payment_failed": -1.0,
    "invoice_overdue": -1.5,
    "unsubscribe": -2.0,
    "discount_refused": -1.5,
    "delivery_late": -2.0,
    "outage": -3.0,
    "usage_decrease": -2.0,
    "price_change": -1.0,
    "cancellation": -10.0,
}

SENTIMENT_WEIGHT = 2.0
# One bad interaction undoes the goodwill of two equally good ones.
NEGATIVITY = 2.0


@dataclass(frozen=True)
class Touch:
    """What scoring needs of an interaction to weigh it."""

    kind: str
    sentiment: float | None = None
    revenue: float = 0.0


def contribution(touch: Touch) -> float:
    raw = KIND_WEIGHTS.get(touch.kind, 0.0)
    if touch.sentiment is not None:
        raw += SENTIMENT_WEIGHT * max(-1.0, min(1.0, touch.sentiment))
    if touch.revenue > 0:
        # Money counts, with diminishing returns: 100 adds 1, 10,000 adds 2.
        raw += math.log10(1 + touch.revenue) / 2
    return round(raw * NEGATIVITY if raw < 0 else raw, 6)
