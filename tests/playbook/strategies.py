"""Hypothesis strategies for playbook rules, shared by the dict/JSON and YAML round trips."""

from __future__ import annotations

from hypothesis import strategies as st

from playbook.domain import (
    MAX_DAYS,
    MAX_HOURS,
    MAX_PICK,
    AnswerChannel,
    Cadence,
    FollowUpAfter,
    Limit,
    NoticeBefore,
    Program,
    RespondWithin,
    Touchpoint,
)
from relint.taxonomy import CHANNELS, KINDS

touchpoints = st.sampled_from(
    [Touchpoint(channel, kind) for channel in CHANNELS for kind in KINDS[channel]]
)
days = st.integers(1, MAX_DAYS)
# What may answer: none (the default), or a few channels and kinds, none covering another.
answer_channels = st.sampled_from(CHANNELS).flatmap(
    lambda c: st.builds(AnswerChannel, st.just(c), st.none() | st.sampled_from(KINDS[c]))
)
answered_by = (
    st.lists(answer_channels, max_size=5, unique=True)
    .filter(lambda xs: not any(a != b and a.covers(b) for a in xs for b in xs))
    .map(tuple)
)
rules = st.one_of(
    st.builds(RespondWithin, touchpoints, st.integers(1, MAX_HOURS), answered_by),
    st.builds(Cadence, days, touchpoints),
    st.builds(NoticeBefore, days, touchpoints),
    st.builds(FollowUpAfter, touchpoints, days, touchpoints),
    st.builds(Limit, st.integers(0, 1000), days, st.sampled_from(CHANNELS)),
    st.builds(Program, days, st.integers(1, MAX_PICK), touchpoints),
)
