"""Out of pattern: silence, channel shifts, value swings and cohort laggards, each against
the customer's (or cohort's) own norm, with week-stable keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scoring.patterns import cohort_exceptions, exceptions, norm
from scoring.stages import Moment

T0 = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday


def weekly(weeks: int, channel: str = "sales", value: float = 10.0) -> list[Moment]:
    return [
        Moment(T0 + timedelta(days=7 * w), "purchase", channel, "inbound", value + (w % 3))
        for w in range(weeks)
    ]


def test_too_little_history_has_no_norm() -> None:
    assert norm(weekly(5), T0 + timedelta(days=60)) is None
    assert exceptions("c", weekly(5), T0 + timedelta(days=200)) == []


def test_silence_against_the_customers_own_cadence() -> None:
    history = weekly(30)
    last = history[-1].at
    assert exceptions("c", history, last + timedelta(days=20)) == []
    [silent] = exceptions("c", history, last + timedelta(days=30))
    assert (silent.kind, silent.severity) == ("silence", "warning")
    assert silent.reason == "silent for 30 days; it usually interacts every 7 days"
    [longer] = exceptions("c", history, last + timedelta(days=70))
    assert longer.severity == "critical"
    # One silence is one warning and one critical, however many weeks it is judged in: the
    # key is the silence's start and severity, not the week.
    [weeks_later] = exceptions("c", history, last + timedelta(days=50))
    assert (weeks_later.severity, weeks_later.key) == ("warning", silent.key)
    [critical_later] = exceptions("c", history, last + timedelta(days=120))
    assert critical_later.key == longer.key != silent.key
    # After the next interaction, a new silence is a new exception.
    resumed = [*history, history[-1]._replace(at=last + timedelta(days=80))]
    [next_silence] = exceptions("c", resumed, last + timedelta(days=130))
    assert next_silence.kind == "silence"
    assert next_silence.key not in {silent.key, longer.key}


def test_a_sudden_channel_shift() -> None:
    history = weekly(30)
    last = history[-1].at
    tickets = [
        Moment(last + timedelta(days=d), "ticket_opened", "service", "inbound", 12.0)
        for d in (2, 4, 6, 8, 10)
    ]
    [shift] = exceptions("c", history + tickets, last + timedelta(days=11))
    assert shift.kind == "channel_shift"
    assert shift.reason == "5 of its 8 interactions in 30 days went through service (usually 0%)"


def test_a_value_swing_beyond_its_usual_moves() -> None:
    history = weekly(30)
    last = history[-1].at
    crash = [Moment(last + timedelta(days=3), "complaint", "sales", "inbound", -20.0)]
    found = exceptions("c", history + crash, last + timedelta(days=4))
    [swing] = [e for e in found if e.kind == "value_swing"]
    assert swing.severity == "critical"
    assert swing.reason.startswith("value fell 30.0 points in 14 days; it usually moves by 1.4")


def test_laggards_of_a_cohort() -> None:
    cohort = {f"c{n}": ("BFF", "integrating") for n in range(12)}
    activity = {f"c{n}": 20 + n for n in range(11)} | {"c11": 2}
    found = cohort_exceptions(activity, cohort, T0)
    assert list(found) == ["c11"]
    assert found["c11"].reason == (
        "2 interactions in 90 days, fewer than 90% of the 12 BFF customers in integrating "
        "(median 24)"
    )
    # A laggard is raised once a quarter (the 90 days counted) and cohort, not every week.
    weeks_later = cohort_exceptions(activity, cohort, T0 + timedelta(days=14))
    next_quarter = cohort_exceptions(activity, cohort, T0 + timedelta(days=92))
    elsewhere = cohort_exceptions(activity, dict.fromkeys(cohort, ("BFF", "bonding")), T0)
    assert weeks_later["c11"].key == found["c11"].key
    assert len({found["c11"].key, next_quarter["c11"].key, elsewhere["c11"].key}) == 3
    small = {f"c{n}": ("BFF", "integrating") for n in range(5)}
    assert cohort_exceptions({"c0": 0}, small, T0) == {}
