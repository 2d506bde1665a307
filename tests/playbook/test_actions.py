"""The worklist's choice and order, pure: every obligation is ranked by its urgency, however
late it is due, and then by its customer's value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playbook.actions import (
    TENTH_BREADTH,
    Outlook,
    Owed,
    urgency,
    worklist,
    worklist_candidates,
)
from playbook.evaluation import Standing

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_a_late_deadline_with_most_of_its_time_gone_outranks_many_sooner_ones() -> None:
    owed = {
        # A business review 85 of its 93 days gone, due in 8 days: 0.957.
        "review": Owed("big", "partner-review", NOW + 8 * DAY, NOW - 85 * DAY, "review"),
        # A ticket due in 3 hours: 0.991.
        "ticket": Owed("small", "first-response", NOW + timedelta(hours=3), NOW - DAY, "reply"),
    }
    # Fifty fresh check-ins due within 6 days, sooner than the review: 0.571 each.
    for n in range(50):
        owed[f"check-{n}"] = Owed(f"c{n}", "check-in", NOW + 6 * DAY, NOW - DAY, "check in")
    assert urgency(NOW - 85 * DAY, NOW + 8 * DAY, NOW) == 0.957
    assert urgency(NOW - DAY, NOW + 6 * DAY, NOW) == 0.5714
    times = [(k, o.opened_at, o.due_at) for k, o in owed.items()]
    chosen = worklist_candidates(times, NOW, 2)
    # Both of the top tenth, though 50 others are due before the review.
    assert chosen == ["ticket", "review"]
    standing = Standing("partner", NOW, "bonding", NOW)
    outlooks = {"big": Outlook(standing, value=900.0), "small": Outlook(standing, value=5.0)}
    ranked = worklist([owed[k] for k in chosen], outlooks, (), NOW, 2)
    # The same tenth (0.9x): the more valuable customer first.
    assert [a.customer_id for a in ranked] == ["big", "small"]


def test_the_last_tenth_is_ranked_by_value_as_far_as_it_is_taken() -> None:
    times = [(f"o{n:02d}", NOW - DAY, NOW + 6 * DAY + n * timedelta(minutes=1)) for n in range(40)]
    chosen = worklist_candidates(times, NOW, 2)
    assert chosen == [f"o{n:02d}" for n in range(TENTH_BREADTH * 2)]  # soonest due first
    assert worklist_candidates(times[:1], NOW, 2) == ["o00"]
    assert worklist_candidates([], NOW, 2) == []
