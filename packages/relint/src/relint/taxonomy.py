"""The canonical interaction taxonomy: channels, the kinds each channel allows, and directions.

Ingest validates against it, scoring weighs by it, the demo generator speaks it. Tenants map
their own kinds onto these names; the names themselves are part of the public contract.
"""

from __future__ import annotations

from typing import Final

CHANNELS: Final = (
    "marketing",
    "sales",
    "service",
    "social",
    "community",
    "finance",
    "operations",
    "email",
)

KINDS: Final[dict[str, tuple[str, ...]]] = {
    "marketing": (
        "email_sent",
        "email_opened",
        "email_clicked",
        "campaign_response",
        "content_download",
        "webinar_attended",
        "event_attended",
        "unsubscribe",
    ),
    "sales": (
        "call",
        "meeting",
        "demo",
        "quote",
        "proposal",
        "purchase",
        "renewal",
        "upsell",
        "discount_requested",
        "discount_refused",
        "contract_signed",
        "business_review",
        "cancellation",
    ),
    "service": (
        "ticket_opened",
        "ticket_resolved",
        "ticket_escalated",
        "ticket_reopened",
        "complaint",
        "complaint_resolved",
        "check_in",
        "survey_response",
    ),
    "social": ("mention", "review", "share", "follow", "social_complaint"),
    "community": ("post", "answer", "event_attended", "referral", "co_marketing"),
    "finance": (
        "invoice_sent",
        "invoice_paid",
        "invoice_overdue",
        "payment_failed",
        "refund",
        "credit_note",
        "price_change",
        "term_change",
    ),
    "operations": (
        "onboarding",
        "delivery",
        "delivery_late",
        "outage",
        "usage_increase",
        "usage_decrease",
    ),
    "email": ("email_sent", "email_received"),
}

DIRECTIONS: Final = ("inbound", "outbound")

AMOUNT_TYPES: Final = ("revenue", "cost_to_serve", "refund")

# Knapp's relational stages, in order: scoring infers them, the playbook scopes standards by
# them, the graph filters by them. A move into the second half is an early warning.
COMING_TOGETHER: Final = ("initiating", "experimenting", "intensifying", "integrating", "bonding")
COMING_APART: Final = ("differentiating", "circumscribing", "stagnating", "avoiding", "terminating")
STAGES: Final = COMING_TOGETHER + COMING_APART


def is_canonical(channel: str, kind: str) -> bool:
    return kind in KINDS.get(channel, ())
