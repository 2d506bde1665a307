"""Page tokens for lists in (moment, id) order: opaque to clients, a position to services.
One shape for every service that pages such a list (ingest's interactions, the playbook's
violations)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime


def page_token(moment: datetime, row_id: str) -> str:
    """The token of a position: the moment and id of the last row of a page."""
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{row_id}".encode()).decode()


def page_position(token: str) -> tuple[datetime, str] | None:
    """The (moment, id) a page token carries; None when it is malformed."""
    try:
        moment, _, row_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        at = datetime.fromisoformat(moment)
    except (ValueError, binascii.Error):
        return None
    return (at, row_id) if row_id and at.tzinfo else None
