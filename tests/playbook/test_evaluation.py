"""The judgement of every standard kind at its boundaries: due exactly now, one second late,
answered exactly at the deadline, late events, scope, and order independence."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from playbook.alerts import next_check_at
from playbook.domain import (
    DEFAULT_PLAYBOOK,
    AnswerChannel,
    Cadence,
    FollowUpAfter,
    Limit,
    NoticeBefore,
    Program,
    RespondWithin,
    Standard,
    Touchpoint,
)
from playbook.evaluation import (
    OVERDUE_KEPT,
    Standing,
    Touch,
    Window,
    judge,
    notice_days,
    type_key,
    window,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
BFF = Standing("bff", T0 - timedelta(days=400), "integrating", T0 - timedelta(days=30))


def standard(rule: object, types: tuple[str, ...] = (), stages: tuple[str, ...] = ()) -> Standard:
    return Standard("s", "The standard", "service", types, stages, rule)  # type: ignore[arg-type]


RESPOND = standard(RespondWithin(Touchpoint("service", "ticket_opened"), within_hours=4), ("bff",))
TICKET = Touch("t1", T0, "service", "ticket_opened", "inbound", "ana", reference="123")


def reply(at: datetime, id_: str = "r1") -> Touch:
    return Touch(id_, at, "email", "email_sent", "outbound", "ana")


def test_a_response_due_exactly_now_is_still_owed() -> None:
    due = T0 + timedelta(hours=4)
    judgement = judge([RESPOND], BFF, [TICKET], due)
    assert judgement.violations == ()
    [owed] = judgement.obligations
    assert (owed.due_at, owed.trigger_reference, owed.employee) == (due, "123", "ana")
    assert owed.what == "First response to service ticket opened #123"
    assert next_check_at(judgement.obligations, due) == due


def test_one_second_past_the_deadline_is_a_violation_and_still_owed_for_a_while() -> None:
    due = T0 + timedelta(hours=4)
    judgement = judge([RESPOND], BFF, [TICKET], due + SECOND)
    [missed] = judgement.violations
    assert (missed.due_at, missed.interaction_ids) == (due, ("t1",))
    assert missed.reason == (
        "no first response to service ticket opened #123 (due 2026-03-02 13:00 UTC, The standard)"
    )
    # The answer is still owed, overdue, until OVERDUE_KEPT after the deadline: the clock
    # looks again then, not before.
    [owed] = judgement.obligations
    assert (owed.due_at, owed.trigger_id, owed.recheck_at) == (due, "t1", due + OVERDUE_KEPT)
    assert next_check_at(judgement.obligations, due + SECOND) == due + OVERDUE_KEPT
    still = judge([RESPOND], BFF, [TICKET], due + OVERDUE_KEPT)
    assert [o.trigger_id for o in still.obligations] == ["t1"]
    gone = judge([RESPOND], BFF, [TICKET], due + OVERDUE_KEPT + SECOND)
    assert gone.obligations == ()
    assert [v.due_at for v in gone.violations] == [due]
    assert next_check_at(gone.obligations, due + OVERDUE_KEPT + SECOND) is None
    # Answered late, it is no longer owed; the violation stands.
    answered = judge([RESPOND], BFF, [TICKET, reply(due + timedelta(hours=1))], due + SECOND * 9e3)
    assert answered.obligations == ()
    assert [v.interaction_ids for v in answered.violations] == [("t1", "r1")]


def test_a_marketing_touch_answers_no_ticket() -> None:
    due = T0 + timedelta(hours=4)
    newsletter = Touch("m1", T0 + timedelta(minutes=10), "marketing", "email_sent", "outbound")
    [missed] = judge([RESPOND], BFF, [TICKET, newsletter], due + SECOND).violations
    assert missed.interaction_ids == ("t1",)
    # The support reply after it does.
    answered = judge([RESPOND], BFF, [TICKET, newsletter, reply(due - SECOND)], due + SECOND)
    assert answered.violations == ()


def test_an_answer_exactly_at_the_deadline_is_in_time_one_second_later_is_late() -> None:
    due = T0 + timedelta(hours=4)
    assert judge([RESPOND], BFF, [TICKET, reply(due)], due + timedelta(days=9)).violations == ()
    [late] = judge(
        [RESPOND], BFF, [TICKET, reply(due + SECOND)], due + timedelta(days=9)
    ).violations
    assert late.interaction_ids == ("t1", "r1")
    assert "came 1 s late" in late.reason


def test_a_late_delivered_answer_turns_the_violation_into_nothing() -> None:
    """The same history in any arrival order judges the same: the violation judged before
    the answer arrived is not in the judgement that has it (the service withdraws it)."""
    later = T0 + timedelta(days=2)
    before = judge([RESPOND], BFF, [TICKET], later)
    after = judge([RESPOND], BFF, [TICKET, reply(T0 + timedelta(hours=1))], later)
    assert len(before.violations) == 1
    assert after.violations == ()
    assert after.judged_from == {"s": BFF.type_since}


def test_inbound_touches_do_not_answer_but_a_resolved_ticket_does() -> None:
    inbound = Touch("i1", T0 + timedelta(hours=1), "email", "email_received", "inbound")
    resolved = Touch("x1", T0 + timedelta(hours=2), "service", "ticket_resolved", "")
    far = T0 + timedelta(days=3)
    assert len(judge([RESPOND], BFF, [TICKET, inbound], far).violations) == 1
    assert judge([RESPOND], BFF, [TICKET, inbound, resolved], far).violations == ()


def test_one_response_answers_every_trigger_waiting_before_it() -> None:
    second = Touch("t2", T0 + timedelta(hours=1), "service", "ticket_opened", "inbound")
    judgement = judge(
        [RESPOND], BFF, [TICKET, second, reply(T0 + timedelta(hours=2))], T0 + timedelta(days=1)
    )
    assert judgement.violations == ()
    assert judgement.obligations == ()


# Answered only by service (any kind) or a sales call: not by an email, however outbound.
BY_SERVICE = standard(
    replace(RESPOND.rule, answered_by=(AnswerChannel("service"), AnswerChannel("sales", "call"))),
    ("bff",),
)


def touch(id_: str, at: datetime, channel: str, kind: str, direction: str = "outbound") -> Touch:
    return Touch(id_, at, channel, kind, direction, "bo")


def test_answered_by_a_listed_channel_in_time_is_kept_at_the_deadline_exactly() -> None:
    due = T0 + timedelta(hours=4)
    far = due + timedelta(days=9)
    for answer in (
        touch("a", due, "service", "check_in"),
        touch("a", due, "sales", "call"),
        # A resolved ticket answers whatever its recorded direction, on a listed channel.
        touch("a", due, "service", "ticket_resolved", ""),
    ):
        judgement = judge([BY_SERVICE], BFF, [TICKET, answer], far)
        assert (judgement.violations, judgement.obligations) == ((), ()), answer
    late_call = touch("a", due + SECOND, "sales", "call")
    [late] = judge([BY_SERVICE], BFF, [TICKET, late_call], far).violations
    assert late.interaction_ids == ("t1", "a")
    assert late.reason.startswith(
        "the first response (a service touch or a sales call) to service ticket opened #123 "
        "came 1 s late"
    )


def test_answered_only_by_an_unlisted_channel_is_a_violation_at_the_deadline() -> None:
    due = T0 + timedelta(hours=4)
    unlisted = [
        reply(T0 + timedelta(minutes=5)),  # an email: answers the default, not this one
        touch("q", T0 + timedelta(minutes=6), "sales", "quote"),  # sales, not a call
        touch("i", T0 + timedelta(minutes=7), "service", "survey_response", "inbound"),
        touch("f", T0 + timedelta(minutes=8), "finance", "credit_note"),
    ]
    assert judge([RESPOND], BFF, [TICKET, *unlisted], due + SECOND).violations == ()
    at_due = judge([BY_SERVICE], BFF, [TICKET, *unlisted], due)
    assert at_due.violations == ()
    [owed] = at_due.obligations
    assert (
        owed.what
        == "First response (a service touch or a sales call) to service ticket opened #123"
    )
    assert owed.due_at == due
    judgement = judge([BY_SERVICE], BFF, [TICKET, *unlisted], due + SECOND)
    [missed] = judgement.violations
    assert (missed.due_at, missed.interaction_ids) == (due, ("t1",))
    assert missed.reason == (
        "no first response (a service touch or a sales call) to service ticket opened #123 "
        "(due 2026-03-02 13:00 UTC, The standard)"
    )
    # Still owed, overdue, until a listed channel answers.
    [overdue] = judgement.obligations
    assert overdue.recheck_at == due + OVERDUE_KEPT
    answered = [*unlisted, touch("s", due + timedelta(hours=1), "service", "check_in")]
    after = judge([BY_SERVICE], BFF, [TICKET, *answered], due + timedelta(hours=2))
    assert after.obligations == ()
    assert [v.interaction_ids for v in after.violations] == [("t1", "s")]


def test_a_resolved_kind_on_an_unlisted_channel_does_not_answer() -> None:
    by_finance = standard(replace(RESPOND.rule, answered_by=(AnswerChannel("finance"),)))
    resolved = touch("x", T0 + timedelta(hours=1), "service", "ticket_resolved", "")
    credit = touch("c", T0 + timedelta(hours=2), "finance", "credit_note")
    far = T0 + timedelta(days=1)
    assert len(judge([by_finance], BFF, [TICKET, resolved], far).violations) == 1
    assert judge([by_finance], BFF, [TICKET, resolved, credit], far).violations == ()


def test_a_marketing_channel_the_standard_names_answers() -> None:
    """A newsletter answers nobody by default; a company that lists marketing says it does
    (an outbound one: a customer's own click is no answer)."""
    by_marketing = standard(
        replace(RESPOND.rule, answered_by=(AnswerChannel("marketing", "email_sent"),)), ("bff",)
    )
    due = T0 + timedelta(hours=4)
    newsletter = touch("m", due, "marketing", "email_sent")
    assert len(judge([RESPOND], BFF, [TICKET, newsletter], due + SECOND).violations) == 1
    assert judge([by_marketing], BFF, [TICKET, newsletter], due + SECOND).violations == ()
    click = touch("k", T0 + SECOND, "marketing", "email_sent", "inbound")
    other_kind = touch("o", T0 + SECOND, "marketing", "email_clicked")
    [missed] = judge([by_marketing], BFF, [TICKET, click, other_kind], due + SECOND).violations
    assert missed.reason.startswith("no first response (a marketing email sent) to ")


def test_standards_with_different_answers_each_judge_by_their_own() -> None:
    """Two standards on one history: each reads only its own answers, and one without
    answered_by the default ones."""
    complaint = Touch("c1", T0, "service", "complaint", "inbound")
    by_sales = standard(
        RespondWithin(Touchpoint("service", "complaint"), 4, (AnswerChannel("sales", "call"),))
    )
    both = [replace(BY_SERVICE, key="ticket"), replace(by_sales, key="complaint")]
    check_in = touch("s", T0 + timedelta(hours=1), "service", "check_in")
    judgement = judge(
        [*both, replace(RESPOND, key="plain")],
        BFF,
        [TICKET, complaint, check_in],
        T0 + timedelta(days=1),
    )
    assert [(v.standard_key, v.interaction_ids) for v in judgement.violations] == [
        ("complaint", ("c1",))
    ]
    call = touch("a", T0 + timedelta(hours=2), "sales", "call")
    again = judge(both, BFF, [TICKET, complaint, check_in, call], T0 + timedelta(days=1))
    assert again.violations == ()


def test_a_standard_binds_only_in_its_scope_and_from_when_the_customer_entered_it() -> None:
    acquaintance = Standing("acquaintance", T0 - timedelta(days=400))
    assert judge([RESPOND], acquaintance, [TICKET], T0 + timedelta(days=1)).violations == ()
    became_bff_after = Standing("bff", T0 + timedelta(hours=1))
    judgement = judge([RESPOND], became_bff_after, [TICKET], T0 + timedelta(days=1))
    assert judgement.violations == ()
    assert judgement.judged_from == {"s": T0 + timedelta(hours=1)}
    staged = standard(RESPOND.rule, ("bff",), ("bonding",))
    assert judge([staged], BFF, [TICKET], T0 + timedelta(days=1)).judged_from == {}


def test_follow_up_after_needs_the_named_follow_up() -> None:
    rule = standard(
        FollowUpAfter(Touchpoint("service", "complaint"), 2, Touchpoint("service", "check_in"))
    )
    complaint = Touch("c1", T0, "service", "complaint", "inbound")
    check_in = Touch("k1", T0 + timedelta(days=2), "service", "check_in", "outbound")
    assert (
        judge(
            [rule], Standing(), [complaint, reply(T0 + SECOND), check_in], T0 + timedelta(days=5)
        ).violations
        == ()
    )
    [missed] = judge(
        [rule], Standing(), [complaint, reply(T0 + SECOND)], T0 + timedelta(days=2) + SECOND
    ).violations
    assert missed.reason.startswith("no service check in after the service complaint of 2026-03-02")
    [owed] = judge([rule], Standing(), [complaint], T0 + timedelta(days=2)).obligations
    assert owed.due_at == T0 + timedelta(days=2)


def test_cadence_counts_each_missed_period_and_keeps_one_obligation_open() -> None:
    rule = standard(Cadence(90, Touchpoint("sales", "business_review")), ("bff",))
    start = BFF.type_since
    assert start is not None
    review = Touch("b1", start + timedelta(days=90), "sales", "business_review", "outbound", "bo")
    # Exactly 90 days after the start: in time; then 200 quiet days are two missed reviews.
    now = review.occurred_at + timedelta(days=200)
    judgement = judge([rule], BFF, [review], now)
    assert [v.due_at for v in judgement.violations] == [
        review.occurred_at + timedelta(days=90),
        review.occurred_at + timedelta(days=180),
    ]
    assert judgement.violations[0].interaction_ids == ("b1",)
    # Still owed: overdue since the first period missed, opened at the last review; the
    # clock looks again when a third period is missed.
    [owed] = judgement.obligations
    assert (owed.due_at, owed.opened_at) == (
        review.occurred_at + timedelta(days=90),
        review.occurred_at,
    )
    assert owed.recheck_at == review.occurred_at + timedelta(days=270)
    assert next_check_at(judgement.obligations, now) == owed.recheck_at
    assert owed.what == "A sales business review (last one 200 days ago)"
    assert owed.employee == "bo"
    # Due exactly now is not yet missed, nor overdue.
    exactly = judge([rule], BFF, [review], review.occurred_at + timedelta(days=90))
    assert exactly.violations == ()
    [coming] = exactly.obligations
    assert (coming.due_at, coming.recheck_at) == (review.occurred_at + timedelta(days=90), None)
    # Done late, it is owed a period after the late one.
    late = Touch("b2", now, "sales", "business_review", "outbound", "cy")
    [next_one] = judge([rule], BFF, [review, late], now + SECOND).obligations
    assert (next_one.due_at, next_one.recheck_at) == (now + timedelta(days=90), None)


def test_cadence_without_a_start_counts_from_the_first_interaction() -> None:
    rule = standard(Cadence(30, Touchpoint("sales", "call")))
    first = Touch("p1", T0, "sales", "purchase", "inbound")
    assert judge([rule], Standing(), [], T0).obligations == ()
    [owed] = judge([rule], Standing(), [first], T0 + timedelta(days=10)).obligations
    assert owed.due_at == T0 + timedelta(days=30)
    [missed] = judge([rule], Standing(), [first], T0 + timedelta(days=30) + SECOND).violations
    assert missed.interaction_ids == ()
    assert "so far" in missed.reason


def test_notice_before_reads_notice_days_or_effective_at() -> None:
    rule = standard(NoticeBefore(60, Touchpoint("finance", "price_change")))
    told = Touch("n1", T0, "finance", "price_change", "outbound", notice_days=60)
    short = Touch("n2", T0, "finance", "price_change", "outbound", notice_days=59.5)
    silent = Touch("n3", T0, "finance", "price_change", "outbound")
    assert judge([rule], Standing(), [told], T0).violations == ()
    [late] = judge([rule], Standing(), [short], T0).violations
    assert late.reason.startswith(
        "the finance price change of 2026-03-02 09:00 UTC announced 59.5 days"
    )
    assert late.due_at == T0 + timedelta(days=59.5) - timedelta(days=60)
    [none] = judge([rule], Standing(), [silent], T0).violations
    assert "announced 0 days before" in none.reason
    assert (
        notice_days(T0, {"effective_at": "2026-05-01"})
        == (datetime(2026, 5, 1, tzinfo=UTC) - T0).total_seconds() / 86400
    )
    assert notice_days(T0, {"notice_days": 30}) == 30.0
    assert notice_days(T0, {"notice_days": True}) is None
    assert notice_days(T0, {"effective_at": "soon"}) is None
    assert notice_days(T0, {}) is None
    # A price change tracked through the Segment surface: ingest keeps its properties.
    assert notice_days(T0, {"properties": {"notice_days": 60}}) == 60.0
    assert notice_days(T0, {"properties": {"effective_at": "2026-03-12T09:00:00Z"}}) == 10.0
    assert notice_days(T0, {"notice_days": 5, "properties": {"notice_days": 60}}) == 5.0


def test_a_limit_counts_outbound_touches_in_any_window() -> None:
    rule = standard(Limit(3, 7, "marketing"))
    touches = [
        Touch(f"m{i}", T0 + timedelta(days=2 * i), "marketing", "email_sent", "outbound")
        for i in range(4)
    ]
    # Four touches within 6 days: the fourth breaks the limit.
    [broken] = judge([rule], Standing(), touches, T0 + timedelta(days=30)).violations
    assert broken.interaction_ids[0] == "m3"
    assert broken.due_at == touches[3].occurred_at
    # Exactly 7 days apart, the first has left the window; inbound opens never count.
    spaced = [
        *touches[:3],
        Touch("m3", T0 + timedelta(days=7), "marketing", "email_sent", "outbound"),
    ]
    opened = Touch("o1", T0 + timedelta(days=3), "marketing", "email_opened", "inbound")
    assert judge([rule], Standing(), [*spaced, opened], T0 + timedelta(days=30)).violations == ()


def test_touches_after_now_are_not_judged_yet() -> None:
    judgement = judge([RESPOND], BFF, [TICKET], T0 - SECOND)
    assert judgement.obligations == ()
    assert judgement.violations == ()


def _answered_by(standards: tuple[Standard, ...]) -> tuple[Standard, ...]:
    """The playbook with what answers its respond-within standards named: tickets by service
    or a sales call, complaints by their resolution or by marketing."""
    named = {
        "first-response": (AnswerChannel("service"), AnswerChannel("sales", "call")),
        "answer-complaints": (
            AnswerChannel("service", "complaint_resolved"),
            AnswerChannel("marketing"),
        ),
    }
    return tuple(
        replace(s, rule=replace(s.rule, answered_by=named[s.key]))
        if isinstance(s.rule, RespondWithin)
        else s
        for s in standards
    )


# The default playbook, and the same with answered_by on its respond-within standards.
PLAYBOOKS = (DEFAULT_PLAYBOOK.standards, _answered_by(DEFAULT_PLAYBOOK.standards))


@given(st.randoms(use_true_random=False), st.integers(0, 60), st.sampled_from(PLAYBOOKS))
def test_the_judgement_does_not_depend_on_arrival_order(
    rng: random.Random, days: int, standards: tuple[Standard, ...]
) -> None:
    kinds = [
        ("service", "ticket_opened", "inbound"),
        ("service", "complaint", "inbound"),
        ("service", "check_in", "outbound"),
        ("email", "email_sent", "outbound"),
        ("sales", "business_review", "outbound"),
        ("marketing", "email_sent", "outbound"),
        ("finance", "price_change", "outbound"),
    ]
    touches = [
        Touch(
            f"x{i}",
            T0 + timedelta(hours=rng.randrange(0, 24 * 200)),
            *rng.choice(kinds),
            notice_days=rng.choice([None, 10, 90]),
        )
        for i in range(40)
    ]
    now = T0 + timedelta(days=days * 4)
    standing = Standing("partner", T0 - timedelta(days=1), "bonding", T0)
    first = judge(standards, standing, touches, now)
    rng.shuffle(touches)
    assert judge(standards, standing, touches, now) == first


def test_a_program_pick_is_owed_its_touch_within_the_period_both_ends_in() -> None:
    """Picked at P: a sales call from P to P + 30 days (both in) keeps it; due exactly now
    is still owed, one second later missed; a call a second before P does not count, nor a
    pick made before the standard bound the customer."""
    program = standard(Program(30, 2, Touchpoint("sales", "call")), ("bff",))
    pick = T0 + timedelta(days=10)
    due = pick + timedelta(days=30)

    def sales_call(at: datetime) -> Touch:
        return Touch(f"c{at.timestamp()}", at, "sales", "call", "outbound")

    def judged(touches: list[Touch], now: datetime, picks: list[datetime]) -> object:
        found = judge((program,), BFF, touches, now, picks={program.key: picks})
        return [type(o).__name__ for o in (*found.obligations, *found.violations)]

    assert judged([], due, [pick]) == ["Obligation"]
    assert judged([], due + SECOND, [pick]) == ["Violation"]
    assert judged([sales_call(pick - SECOND)], due + SECOND, [pick]) == ["Violation"]
    assert judged([sales_call(pick)], due + SECOND, [pick]) == []
    assert judged([sales_call(due)], due + SECOND, [pick]) == []
    # Picked before it became a BFF (T0 - 400 days): not this standard's pick.
    assert judged([], due + SECOND, [T0 - timedelta(days=500)]) == []
    [missed] = judge((program,), BFF, [], due + SECOND, picks={program.key: [pick]}).violations
    assert (missed.due_at, missed.interaction_ids) == (due, ())
    assert missed.reason == (
        f"no sales call in the 30 days since it was picked on {pick:%Y-%m-%d %H:%M} UTC "
        f"(due {due:%Y-%m-%d %H:%M} UTC, {program.title})"
    )


def test_scorings_type_names_become_the_keys_standards_use() -> None:
    assert [type_key(n) for n in ("Fair-Weather Friend", "BFF", "Partner", " Key account ")] == [
        "fair_weather_friend",
        "bff",
        "partner",
        "key_account",
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.randoms(use_true_random=False),
    st.sampled_from(["partner", "bff", "acquaintance", "fair_weather_friend"]),
    st.sampled_from([None, -30, 20, 90]),
    st.integers(0, 40),
    st.integers(0, 40),
    st.sampled_from(PLAYBOOKS),
)
def test_a_judgement_from_the_cut_stored_over_the_last_one_is_the_whole_judgement(
    rng: random.Random,
    type_: str,
    type_days: int | None,
    first_days: int,
    more_days: int,
    standards: tuple[Standard, ...],
) -> None:
    """Late events (any moment) arrive after a judgement at `first`; judged again at `later`
    from the cut (the earliest late moment, or `first`), reading only the window, and
    stored over the first judgement (earlier violations kept, later ones replaced), it is
    the whole history's judgement: the same violations and obligations."""
    kinds = [
        ("service", "ticket_opened", "inbound"),
        ("service", "ticket_resolved", "outbound"),
        ("service", "complaint", "inbound"),
        ("service", "check_in", "outbound"),
        ("email", "email_sent", "outbound"),
        ("sales", "business_review", "outbound"),
        ("sales", "call", "outbound"),
        ("marketing", "email_sent", "outbound"),
        ("finance", "price_change", "inbound"),
    ]
    touches = [
        Touch(
            f"x{i}",
            T0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 600)),
            *rng.choice(kinds),
            notice_days=rng.choice([None, 10, 90]),
        )
        for i in range(rng.randrange(1, 60))
    ]
    # A burst of marketing, for the limit.
    burst = T0 + timedelta(days=rng.randrange(0, 600))
    touches += [
        Touch(f"m{i}", burst + timedelta(hours=rng.randrange(0, 24 * 9)), *kinds[7])
        for i in range(rng.randrange(0, 7))
    ]
    # Late events from a random moment on (the earlier that moment, the more is judged).
    late_from = T0 + timedelta(days=rng.randrange(0, 600))
    late = [t for t in touches if t.occurred_at >= late_from and rng.random() < 0.3]
    since = None if type_days is None else T0 + timedelta(days=type_days)
    standing = Standing(type_, since, "bonding", T0)
    first = T0 + timedelta(days=first_days * 15)
    later = first + timedelta(days=more_days)
    # Periods of the conversion program the customer was picked for (an Acquaintance's).
    periods = [T0 + timedelta(days=rng.randrange(0, 600)) for _ in range(rng.randrange(0, 4))]
    picks = {"acquaintance-conversion": periods}
    before = judge(standards, standing, [t for t in touches if t not in late], first, None, picks)
    cut = min([first, *(t.occurred_at for t in late)])

    read = window(standards, standing, cut, later)
    kept_touches = [t for t in touches if read.keeps(t)]
    again = judge(standards, standing, kept_touches, later, cut, picks)
    whole = judge(standards, standing, touches, later, None, picks)

    assert again.obligations == whole.obligations
    kept = {
        v.key
        for v in before.violations
        if (start := again.judged_from.get(v.standard_key)) is not None and v.due_at < start
    }
    assert kept | {v.key for v in again.violations} == {v.key for v in whole.violations}
    # What is judged again is judged exactly as over the whole history.
    assert set(again.violations) <= set(whole.violations)


def test_a_windows_reach_is_each_playbooks_own_and_follows_a_list_that_changed() -> None:
    """What a window reads back is worked out once per published playbook (its standards'
    tuple): another playbook gets its own, and a list of standards that changed since its
    last window gets the new reach."""
    cut = T0
    short = (standard(Limit(3, 7, "marketing")),)
    price_change = Touchpoint("finance", "price_change")
    long = (standard(Limit(3, 30, "marketing")), standard(NoticeBefore(60, price_change)))
    assert window(short, BFF, cut, cut).since == cut - timedelta(days=7)
    assert window(long, BFF, cut, cut).since == cut - timedelta(days=60)
    assert window(short, BFF, cut, cut).since == cut - timedelta(days=7)
    growing = list(short)
    assert window(growing, BFF, cut, cut).since == cut - timedelta(days=7)
    complaint, check_in = Touchpoint("service", "complaint"), Touchpoint("service", "check_in")
    growing.append(standard(FollowUpAfter(complaint, 20, check_in)))
    # A follow-up reads back its 20 days and as long again as one missed stays owed.
    assert window(growing, BFF, cut, cut).since == cut - timedelta(days=20) - OVERDUE_KEPT
    # A cadence binding since the customer became a BFF reads every touch of its kind.
    cadence = (standard(Cadence(90, Touchpoint("sales", "business_review")), ("bff",)),)
    assert window(cadence, BFF, cut, cut) == Window(cut, frozenset({("sales", "business_review")}))
    # One binding the whole history reads all of it.
    assert (
        window((standard(Cadence(90, Touchpoint("sales", "call"))),), BFF, cut, cut).since is None
    )
