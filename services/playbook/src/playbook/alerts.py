"""The alerts the platform sends out to partners' webhooks, and when the playbook raises its
own: a violation when it is found, a deadline approaching once three quarters of an
obligation's time are gone, and a violation withdrawn when interactions delivered late show
the standard kept (its violation alert is closed then). Pure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from playbook.evaluation import Obligation, Violation

# The playbook's own kinds, then scoring's (read from its alert feed).
PLAYBOOK_KINDS: Final = ("violation", "deadline_approaching", "violation_withdrawn")
SCORING_KINDS: Final = ("at_risk", "stage_change", "out_of_pattern")
ALERT_KINDS: Final = PLAYBOOK_KINDS + SCORING_KINDS
_EVENT_NAMESPACE: Final = uuid.UUID("5f3f2b8e-7d0c-4a71-b0a4-6f8f6c1d2e90")


@dataclass(frozen=True)
class Event:
    id: str
    tenant_id: str
    customer_id: str
    kind: str
    severity: str
    reason: str
    occurred_at: datetime
    source: str


def warn_at(obligation: Obligation) -> datetime:
    """When an obligation is about to be missed: three quarters of its time gone."""
    return obligation.opened_at + (obligation.due_at - obligation.opened_at) * 3 / 4


def next_check_at(obligations: tuple[Obligation, ...], now: datetime) -> datetime | None:
    """When the clock must look at the customer again: the next warning or deadline, or the
    moment an overdue obligation changes (`Obligation.recheck_at`)."""
    moments = []
    for o in obligations:
        if o.due_at < now:
            if o.recheck_at is not None:
                moments.append(o.recheck_at)
        else:
            warning = warn_at(o)
            moments.append(warning if warning > now else o.due_at)
    return min(moments, default=None)


def violation_event(
    violation_id: str, tenant_id: str, customer_id: str, v: Violation, now: datetime
) -> Event:
    return Event(
        violation_id, tenant_id, customer_id, "violation", "warning", v.reason, now, "playbook"
    )


def withdrawn_event(
    violation_id: str, tenant_id: str, customer_id: str, reason: str, now: datetime
) -> Event:
    """The violation `violation_id` was withdrawn at `now`; its own id per withdrawal (one
    found again and withdrawn again is said twice)."""
    return Event(
        str(uuid.uuid5(_EVENT_NAMESPACE, f"withdrawn|{violation_id}|{now.isoformat()}")),
        tenant_id,
        customer_id,
        "violation_withdrawn",
        "info",
        f"withdrawn, the standard was kept after all: {reason}"[:500],
        now,
        "playbook",
    )


def approaching(
    tenant_id: str, customer_id: str, obligations: tuple[Obligation, ...], now: datetime
) -> list[Event]:
    """A warning per obligation whose warning moment has passed but not its deadline; the
    id is the obligation's, so it is raised once however often it is judged."""
    return [
        Event(
            str(
                uuid.uuid5(
                    _EVENT_NAMESPACE,
                    f"{tenant_id}|{customer_id}|{o.standard_key}|{o.trigger_id}|"
                    f"{o.due_at.isoformat()}",
                )
            ),
            tenant_id,
            customer_id,
            "deadline_approaching",
            "info",
            f"{o.what}: due {o.due_at:%Y-%m-%d %H:%M} UTC ({o.standard_key})"[:500],
            now,
            "playbook",
        )
        for o in obligations
        if warn_at(o) <= now <= o.due_at
    ]
