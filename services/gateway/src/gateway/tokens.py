"""Signed JWTs for front ends, beside the partners' API keys.

A front end's backend signs a short-lived token for its user; the gateway checks it with the
configured key and reads the tenant and the role from it, never from the request. Claims:

- `tenant` (required): the tenant's id;
- `role`: `viewer` (graph:read), `editor` (+ graph:write) or `admin` (+ admin); viewer if absent;
- `sub` (required): the user, recorded as who acknowledged an alert;
- `exp` (required), `nbf`, `iat`; `aud` and `iss` when the gateway is configured with them.

HS256 with a shared secret, or RS256/ES256 with a public key (PEM). `alg: none` and any
algorithm not configured are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import jwt

from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE, Principal

ROLES: Final = {
    "viewer": frozenset({SCOPE_GRAPH_READ}),
    "editor": frozenset({SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE}),
    "admin": frozenset({SCOPE_GRAPH_READ, SCOPE_GRAPH_WRITE, SCOPE_ADMIN}),
}
# Clocks of the signer and the gateway may disagree a little.
LEEWAY_SECONDS: Final = 30
MAX_TOKEN_LENGTH: Final = 8192


class InvalidToken(ValueError):
    """Why a token is refused, in words safe to show its bearer."""


@dataclass(frozen=True)
class JwtVerifier:
    key: str
    algorithm: str
    audience: str | None = None
    issuer: str | None = None
    leeway: int = LEEWAY_SECONDS

    def verify(self, token: str) -> Principal:
        """The principal the token speaks for; raises InvalidToken."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("token too long")
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidToken("token expired") from error
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"invalid token: {error}") from error
        tenant, role, subject = claims.get("tenant"), claims.get("role", "viewer"), claims["sub"]
        if not isinstance(tenant, str) or not tenant:
            raise InvalidToken("invalid token: the tenant claim is required")
        if role not in ROLES:
            raise InvalidToken(f"invalid token: unknown role {role!r}; known: {', '.join(ROLES)}")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("invalid token: sub must be a non-empty string")
        return Principal(
            tenant,
            f"user:{subject}"[:200],
            ROLES[role],
            expires_at=float(claims["exp"]) + self.leeway,
        )


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated parts: not an API key (those start with rik_)."""
    return token.count(".") == 2 and not token.startswith("rik_")
