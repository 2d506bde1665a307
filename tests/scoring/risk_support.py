"""A tenant whose customers' risks moved apart over the last hundred days: the riskiest now
are not the riskiest then, for the as-of at-risk rankings of the service, REST and gRPC; and
alerts as the repository stores them, for the as-of alert lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scoring.service import Delivered, ScoringService
from scoring.worker import ScoringWorker

# As of THEN_DAYS ago, riskiest first (c and d tied); e arrived after then.
RANKED_THEN = ["c", "d", "a", "b"]
RANKED_NOW = ["c", "d", "b", "e", "a"]
THEN_DAYS = 100


async def risks_that_moved(
    service: ScoringService, tenant: str = "t1"
) -> tuple[datetime, datetime]:
    """Applies the tenant's history and assesses everyone now (the worker's pass); returns
    (now, the moment THEN_DAYS ago)."""
    now = datetime.now(UTC).replace(microsecond=0)
    items: list[Delivered] = []

    def add(customer: str, n: int, kind: str, days_ago: int) -> None:
        items.append(
            Delivered(
                f"{tenant}-{customer}-{n}",
                tenant,
                customer,
                now - timedelta(days=days_ago),
                "sales",
                kind,
                sentiment=((n % 5) - 2) / 2,
                revenue=float(n * 10),
                direction="inbound",
            )
        )

    # "a" complained three times shortly before then, and has bought every week since.
    for k in range(15):
        add("a", k, "purchase", 300 - 10 * k)
    for k in range(3):
        add("a", 20 + k, "complaint", 130 - 10 * k)
    for k in range(8):
        add("a", 40 + k, "purchase", 60 - 7 * k)
    # "b" bought every ten days until just before then, and complains now.
    for k in range(20):
        add("b", k, "purchase", 300 - 10 * k)
    for k in range(3):
        add("b", 30 + k, "complaint", 20 - 5 * k)
    # "c" and "d" alike (tied then and now): four purchases, then silence.
    for customer in ("c", "d"):
        for k in range(4):
            add(customer, k, "purchase", 250 - 10 * k)
    # "e" arrived after then.
    for k in range(3):
        add("e", k, "ticket_opened", 50 - 10 * k)
    await service.apply(items)
    await ScoringWorker(service).run_once()
    return now, now - timedelta(days=THEN_DAYS)


def alert_row(n: int, raised_at: datetime, customer: str = "c1") -> dict[str, object]:
    """An at-risk alert of tenant t1, `a{n}`, as the repository stores it."""
    return {
        "id": f"a{n}",
        "tenant_id": "t1",
        "customer_id": customer,
        "kind": "at_risk",
        "severity": "warning",
        "reason": "quiet",
        "dedup_key": f"k{n}",
        "raised_at": raised_at,
    }
