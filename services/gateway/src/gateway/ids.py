"""Global IDs (Relay): a type name and the owning service's id, base64url-encoded, so that
`node(id)` can fetch any object again. Opaque to clients; never trusted for the tenant, which
comes from the token alone."""

from __future__ import annotations

import base64

from graphql import GraphQLError

MAX_ID_LENGTH = 200


def to_global(kind: str, raw: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{raw}".encode()).decode().rstrip("=")


def from_global(value: str) -> tuple[str, str]:
    """(type name, raw id); a malformed ID is a BAD_INPUT error."""
    if len(value) > MAX_ID_LENGTH:
        raise _bad(value)
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except ValueError as error:  # not base64 (binascii.Error), not ASCII, not UTF-8
        raise _bad(value) from error
    kind, sep, raw = decoded.partition(":")
    if not sep or not kind or not raw:
        raise _bad(value)
    return kind, raw


def customer_key(value: str) -> str:
    """A customer's raw id from its global ID or from the raw id itself."""
    try:
        kind, raw = from_global(value)
    except GraphQLError:
        return value
    return raw if kind == "Customer" else value


def _bad(value: str) -> GraphQLError:
    return GraphQLError(f"not a global ID: {value[:40]!r}", extensions={"code": "BAD_INPUT"})
