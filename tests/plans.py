"""What PostgreSQL's scans read: auto_explain, loaded into one session's transaction, hands
it the plan of each statement as a notice, with the rows each scan kept and filtered out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg.pq import TransactionStatus
from sqlalchemy.ext.asyncio import AsyncSession

from relint.db import driver_of


@asynccontextmanager
async def rows_read(session: AsyncSession) -> AsyncIterator[dict[tuple[str, str], float]]:
    """Within the block, every statement of the session's transaction is explained; after
    it, the dict holds per (statement's first word, table) the rows its scans read."""
    read: dict[tuple[str, str], float] = {}
    plans: list[str] = []

    def keep(notice: Any) -> None:
        plans.append(notice.message_primary)

    async with driver_of(session) as (postgres, driver):
        assert postgres, "plans are PostgreSQL's"
        driver.add_notice_handler(keep)
        for setting in (
            "LOAD 'auto_explain'",
            "SET LOCAL auto_explain.log_min_duration = 0",
            "SET LOCAL auto_explain.log_analyze = on",
            "SET LOCAL auto_explain.log_format = json",
            "SET LOCAL client_min_messages = log",
        ):
            await driver.execute(setting)
    try:
        yield read
    finally:
        # A statement's plan is logged when its portal closes, which may be at the next
        # statement: this one, still heard, ends the explaining (not in a transaction that
        # failed, where it would hide the failure).
        if driver.info.transaction_status == TransactionStatus.INTRANS:
            await driver.execute("SET LOCAL auto_explain.log_min_duration = -1")
        driver.remove_notice_handler(keep)
    for logged in plans:
        document = json.loads(logged[logged.index("{") :])
        statement = document["Query Text"].split()[0]
        for node in _nodes(document["Plan"]):
            if "Relation Name" in node:
                key = (statement, node["Relation Name"])
                rows = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
                read[key] = read.get(key, 0) + rows * node["Actual Loops"]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)
