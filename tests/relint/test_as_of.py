"""Reads as of a past moment, shared by scoring and the playbook: an alert as it stood then,
for either service's rows, and the REST parameter's moment in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from playbook.models import AlertEvent
from relint.as_of import AsOf, alert_as_it_stood
from scoring.models import Alert

RAISED = datetime(2026, 3, 2, 10, tzinfo=UTC)
ACKNOWLEDGED = RAISED + timedelta(hours=2)


@pytest.mark.parametrize(
    "alert",
    [
        Alert(
            tenant_id="t1",
            customer_id="c1",
            kind="at_risk",
            severity="warning",
            reason="risk 55%",
            dedup_key="at_risk:c1:1",
            raised_at=RAISED,
            acknowledged_at=ACKNOWLEDGED,
            acknowledged_by="ana",
        ),
        AlertEvent(
            id="v1",
            tenant_id="t1",
            customer_id="c1",
            kind="violation",
            severity="warning",
            reason="missed",
            occurred_at=RAISED,
            source="playbook",
            acknowledged_at=ACKNOWLEDGED,
            acknowledged_by="ana",
        ),
    ],
)
def test_an_alert_acknowledged_later_stood_open_and_the_row_is_left_alone(
    alert: Alert | AlertEvent,
) -> None:
    before = alert_as_it_stood(alert, ACKNOWLEDGED - timedelta(seconds=1))
    assert type(before) is type(alert)
    assert (before.acknowledged_at, before.acknowledged_by) == (None, None)
    assert before.model_dump(exclude={"acknowledged_at", "acknowledged_by"}) == alert.model_dump(
        exclude={"acknowledged_at", "acknowledged_by"}
    )
    assert (alert.acknowledged_at, alert.acknowledged_by) == (ACKNOWLEDGED, "ana")
    assert alert_as_it_stood(alert, ACKNOWLEDGED) is alert


def test_the_rest_moment_is_read_in_utc_and_one_without_a_zone_or_a_year_refused() -> None:
    as_of = TypeAdapter(AsOf)
    east = datetime(2026, 3, 2, 12, tzinfo=timezone(timedelta(hours=2)))
    read = as_of.validate_python(east)
    assert read is not None
    assert (read, read.tzinfo) == (RAISED, UTC)
    assert as_of.validate_python(None) is None
    for refused in ("2026-03-02T12:00:00", "0001-01-01T00:00:00+01:00"):
        with pytest.raises(ValidationError):
            as_of.validate_python(refused)
