"""Reads as of a past moment, the same in every service that offers them: the REST `as_of`
parameter and the gRPC `as_of` field, and alerts as they stood then (raised by then; open
unless acknowledged by then, and an acknowledgement after then not yet made)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Protocol, Self, TypeVar

import grpc
from fastapi import Query
from pydantic import AfterValidator, AwareDatetime
from sqlalchemy import ColumnElement, SQLColumnExpression, or_


def in_utc(moment: datetime | None) -> datetime | None:
    """The moment in UTC; one that has none (the first day of year 1 east of Greenwich, the
    last of 9999 west of it) is refused, not failed on."""
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("must fall within the years 1 to 9999 in UTC") from error


AsOf = Annotated[
    AwareDatetime | None,
    AfterValidator(in_utc),
    Query(description="The state as it stood then (with a zone); now when omitted."),
]


async def grpc_as_of(context: grpc.aio.ServicerContext, request: Any) -> datetime | None:
    """The request's optional `as_of` (a protobuf Timestamp) in UTC; one beyond the years 1
    to 9999 is refused with INVALID_ARGUMENT, not failed on."""
    if not request.HasField("as_of"):
        return None
    try:
        moment: datetime = request.as_of.ToDatetime(tzinfo=UTC)
    except ValueError as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"as_of: {error}")
        raise  # abort raises; this line is for the type checker
    return moment


def alerts_listed(
    raised_at: SQLColumnExpression[datetime],
    acknowledged_at: SQLColumnExpression[datetime | None],
    open_only: bool,
    as_of: datetime | None,
) -> list[ColumnElement[bool]]:
    """The conditions on a table of alerts for those a list shows: as of a moment, those
    raised by then; `open_only`, those not acknowledged (by then, as of a moment)."""
    conditions: list[ColumnElement[bool]] = []
    if as_of is not None:
        conditions.append(raised_at <= as_of)
    if open_only:
        unacknowledged = acknowledged_at.is_(None)
        conditions.append(
            unacknowledged if as_of is None else or_(unacknowledged, acknowledged_at > as_of)
        )
    return conditions


class Acknowledgeable(Protocol):
    """An alert as a service stores it (a SQLModel row)."""

    acknowledged_at: datetime | None
    acknowledged_by: str | None

    def model_dump(self) -> dict[str, Any]: ...

    @classmethod
    def model_validate(cls, obj: Any) -> Self: ...


A = TypeVar("A", bound=Acknowledgeable)


def alert_as_it_stood(alert: A, as_of: datetime) -> A:
    """The alert as it stood at `as_of`: an acknowledgement after then had not happened (a
    copy without it; the row read is left as it is)."""
    if alert.acknowledged_at is None or alert.acknowledged_at <= as_of:
        return alert
    return type(alert).model_validate(
        {**alert.model_dump(), "acknowledged_at": None, "acknowledged_by": None}
    )
