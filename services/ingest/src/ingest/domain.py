"""Ingest's pure rules: API key format and hashing, money, and what makes an interaction valid.

No I/O and no framework here; everything is tested directly.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from relint.auth import ALL_SCOPES
from relint.taxonomy import AMOUNT_TYPES, KINDS, is_canonical

KEY_PREFIX = "rik"
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_LOOKUP_BYTES = 8
_SECRET_BYTES = 24
MICROS = Decimal(1_000_000)


@dataclass(frozen=True)
class IssuedKey:
    """A key as shown once to its holder, and what is stored of it."""

    raw: str
    lookup_id: str
    secret_hash: str


def hash_secret(secret: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


def issue_key(pepper: str) -> IssuedKey:
    lookup_id = secrets.token_hex(_LOOKUP_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return IssuedKey(f"{KEY_PREFIX}_{lookup_id}_{secret}", lookup_id, hash_secret(secret, pepper))


def parse_key(raw: str) -> tuple[str, str] | None:
    """Splits 'rik_<lookup>_<secret>' into lookup id and secret; None if it is not a key."""
    prefix, _, rest = raw.partition("_")
    lookup_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or len(lookup_id) != 2 * _LOOKUP_BYTES or not secret:
        return None
    return lookup_id, secret


def secret_matches(secret: str, stored_hash: str, pepper: str) -> bool:
    return hmac.compare_digest(hash_secret(secret, pepper), stored_hash)


def validate_domains(domains: Iterable[str]) -> list[str]:
    """The tenant's own mail domains, normalised, or ValueError naming the bad one."""
    found: list[str] = []
    for raw in domains:
        value = raw.strip().lower().removeprefix("@").rstrip(".")
        labels = value.split(".")
        if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
            raise ValueError(f"not a mail domain: {raw!r}")
        if value not in found:
            found.append(value)
    if len(found) > 50:
        raise ValueError("at most 50 email domains")
    return found


def validate_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes {unknown}; known: {list(ALL_SCOPES)}")
    if not scopes:
        raise ValueError("a key needs at least one scope")
    return sorted(set(scopes))


def kind_error(channel: str, kind: str) -> str:
    """Why (channel, kind) is not in the canonical taxonomy."""
    return f"'{kind}' is not a kind of channel '{channel}'; allowed: {', '.join(KINDS[channel])}"


KindMap = dict[tuple[str, str], str]


def mapped_kind(channel: str, kind: str, mapping: KindMap) -> tuple[str | None, str | None]:
    """(the canonical kind, None) for a canonical or mapped kind, else (None, the reason)."""
    if is_canonical(channel, kind):
        return kind, None
    canonical = mapping.get((channel, kind))
    if canonical is not None:
        return canonical, None
    return None, kind_error(channel, kind) + " (or map it: PUT /v1/admin/kind-mappings)"


def mapping_errors(entries: list[tuple[str, str, str]]) -> list[str]:
    """Why a tenant's mapping table (channel, source kind, canonical kind) cannot be taken."""
    problems = []
    seen: set[tuple[str, str]] = set()
    for position, (channel, source_kind, kind) in enumerate(entries):
        where = f"mappings[{position}]"
        if channel not in KINDS:
            problems.append(f"{where}.channel: unknown channel '{channel}'")
            continue
        if not is_canonical(channel, kind):
            problems.append(f"{where}.kind: {kind_error(channel, kind)}")
        if is_canonical(channel, source_kind):
            problems.append(f"{where}.source_kind: '{source_kind}' is already canonical")
        if (channel, source_kind) in seen:
            problems.append(f"{where}: '{source_kind}' of '{channel}' is mapped twice")
        seen.add((channel, source_kind))
    return problems


def money_error(
    amount: Decimal | None, amount_type: str | None, currency: str | None
) -> str | None:
    given = [amount is not None, amount_type is not None, currency is not None]
    if any(given) and not all(given):
        return "amount, amount_type and currency go together: give all three or none"
    if amount_type is not None and amount_type not in AMOUNT_TYPES:
        return f"amount_type must be one of {', '.join(AMOUNT_TYPES)}"
    if amount is not None and amount < 0:
        return "amount must not be negative; amount_type says which way the money went"
    return None


def to_micros(amount: Decimal) -> int:
    return int((amount * MICROS).to_integral_value())


def from_micros(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS).normalize()
