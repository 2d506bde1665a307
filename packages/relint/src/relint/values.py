"""What the stores and the wire can hold, checked where input comes in: PostgreSQL's text
refuses the NUL character, UTF-8 refuses a lone surrogate (JSON's "\\ud800" decodes to one),
its JSON refuses NaN and infinities, and a protobuf `Struct` (how open attributes reach the
subscribers) carries numbers as doubles, so a larger integer would arrive changed. Each check
answers with the reason, or None when the value can be stored and sent as it is."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, Final

NUL_REASON: Final = "must not contain the NUL character (\\u0000)"
MAX_EXACT_INTEGER: Final = 2**53 - 1  # the largest a double holds exactly
MAX_JSON_DEPTH: Final = 8
# Nothing is recorded before it: ingest refuses earlier moments, and reads reaching before it
# would fall off the calendar once a window is taken from them.
EARLIEST_MOMENT: Final = datetime(1970, 1, 1, tzinfo=UTC)

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    if "\x00" in text:
        return NUL_REASON
    if not text.isascii() and _SURROGATE.search(text):
        return "must be valid Unicode (it holds a lone surrogate, such as \\ud800)"
    return None


def json_problem(value: Any) -> tuple[str, str] | None:
    """Why an open JSON value (a dict of attributes, a whole message) cannot be stored and
    sent: (where within `value`, dotted and indexed; the reason), or None. The path is only
    built for a value that has a problem: attributes are checked on every interaction."""
    found = _problem(value, 0)
    if found is None:
        return None
    reason, steps = found
    path = ""
    for step in reversed(steps):
        path += f"[{step}]" if isinstance(step, int) else f".{step}" if path else step
    return path or "(value)", reason


def _problem(value: Any, depth: int) -> tuple[str, list[str | int]] | None:
    """(the reason, the path's steps from the innermost out), or None."""
    kind = type(value)
    if kind is str:
        reason = text_problem(value)
        return None if reason is None else (reason, [])
    if kind is dict or kind is list:
        if depth >= MAX_JSON_DEPTH:
            return f"nested deeper than {MAX_JSON_DEPTH} levels", []
        pairs = value.items() if kind is dict else enumerate(value)
        for key, inner in pairs:
            if kind is dict and (reason := text_problem(str(key))) is not None:
                return f"the key {reason}", [key]
            plain = type(inner) is str and "\x00" not in inner and inner.isascii()
            if not plain and (found := _problem(inner, depth + 1)) is not None:
                found[1].append(key)
                return found
        return None
    if kind is bool or value is None:
        return None
    if kind is int:
        if -MAX_EXACT_INTEGER <= value <= MAX_EXACT_INTEGER:
            return None
        return f"integers beyond ±{MAX_EXACT_INTEGER:,} lose digits; send it as text", []
    if kind is float:
        return None if math.isfinite(value) else ("must be a finite number", [])
    return f"not a JSON value ({kind.__name__})", []
