"""Webhook delivery: the one way every relint service sends alerts to partners' URLs.

No storage lives here: callers keep subscriptions (URL, secret) and the delivery log, and
call these functions. A delivery is one POST of :func:`event_body` signed with :func:`sign`
(the Stripe scheme: ``Relint-Signature: t=<unix time>,v1=<hex HMAC-SHA256>``); failed
deliveries are retried at :func:`next_attempt_at` until it returns None.

A receiver checks each request with :func:`verify` (the body must be the raw bytes)::

    body = await request.body()
    header = request.headers.get(SIGNATURE_HEADER, "")
    if not verify(secret, header, body, now=int(time.time())):
        return Response(status_code=400)
    handle_once(request.headers[DELIVERY_HEADER], json.loads(body))

To rotate a secret, the sender signs with both the new and the old one for a while (two
``v1=`` values in one header, the new one first: pass both to :func:`sign` or
:func:`deliver`); :func:`verify` accepts the request if any of them matches its secret, so
a receiver can switch to the new secret at any moment of the overlap.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import urlsplit

import httpx

SIGNATURE_HEADER: Final = "Relint-Signature"
EVENT_HEADER: Final = "Relint-Event"
DELIVERY_HEADER: Final = "Relint-Delivery"
USER_AGENT: Final = "relint-webhooks/1"

RETRY_SCHEDULE: Final[tuple[int, ...]] = (10, 30, 120, 600, 1800, 3600, 6 * 3600, 12 * 3600)
MAX_ATTEMPTS: Final = len(RETRY_SCHEDULE) + 1

MAX_URL_LENGTH: Final = 2000
_RESPONSE_READ_LIMIT: Final = 1024
_EXCERPT_CHARS: Final = 200


def new_secret() -> str:
    """A fresh signing secret for a new subscription."""
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str | Sequence[str], timestamp: int, body: bytes) -> str:
    """The ``Relint-Signature`` header value for ``body`` sent at ``timestamp``: one ``v1=``
    per secret, in the order given (several while a secret is being rotated)."""
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not keys:
        raise ValueError("at least one secret")
    return ",".join([f"t={timestamp}", *(f"v1={_digest(k, timestamp, body)}" for k in keys)])


def verify(secret: str, header: str, body: bytes, now: int, tolerance_seconds: int = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_seconds`` of ``now``.

    Never raises: a malformed header is simply refused.
    """
    timestamps: list[str] = []
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            candidates.append(value)
    if len(timestamps) != 1 or not candidates:  # two timestamps would be ambiguous
        return False
    timestamp = _parse_timestamp(timestamps[0])
    if timestamp is None or abs(now - timestamp) > tolerance_seconds:
        return False
    expected = _digest(secret, timestamp, body).encode()
    # Compare every candidate, so the time taken does not tell which one matched.
    matches = [hmac.compare_digest(expected, c.encode("utf-8", "replace")) for c in candidates]
    return any(matches)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def _parse_timestamp(value: str) -> int | None:
    # int() alone would accept "+1", " 1", "1_0", non-ASCII digits and raise on huge strings.
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        return None
    return int(value)


def next_attempt_at(
    attempts_made: int, now: datetime, jitter: random.Random | None = None
) -> datetime | None:
    """When to try again after ``attempts_made`` failed attempts, or None to give up.

    With ``jitter``, the delay grows by up to 10% so retries of one outage spread out.
    """
    if attempts_made < 1:
        raise ValueError(f"attempts_made must be at least 1, got {attempts_made}")
    if attempts_made >= MAX_ATTEMPTS:
        return None
    delay = float(RETRY_SCHEDULE[attempts_made - 1])
    if jitter is not None:
        delay += delay * 0.1 * jitter.random()
    return now + timedelta(seconds=delay)


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt, for the caller's delivery log."""

    status_code: int | None
    error: str
    duration_ms: float
    delivered: bool


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    secret: str | Sequence[str],
    event_kind: str,
    delivery_id: str,
    body: bytes,
    now: int,
    timeout: float = 10.0,  # noqa: ASYNC109 - part of the API: one timeout per delivery
) -> Attempt:
    """POST ``body`` to ``url``, signed at ``now`` (with each secret given, see :func:`sign`);
    delivered iff the answer is 2xx.

    Never raises for network problems: they become the attempt's ``error``. Redirects are
    not followed, ``timeout`` bounds the whole attempt, and at most 1 KiB of the response
    body is read.
    """
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        # Raw bytes are read below, so ask for them uncompressed (no decompression bombs).
        "Accept-Encoding": "identity",
        SIGNATURE_HEADER: sign(secret, now, body),
        EVENT_HEADER: event_kind,
        DELIVERY_HEADER: delivery_id,
    }
    started = time.perf_counter()
    status_code: int | None = None
    try:
        async with (
            asyncio.timeout(timeout),
            client.stream(
                "POST",
                url,
                content=body,
                headers=headers,
                timeout=timeout,
                follow_redirects=False,
            ) as response,
        ):
            status_code = response.status_code
            if response.is_success:
                error = ""
            elif 300 <= status_code < 400:
                error = "redirect not followed"
            else:
                excerpt = (await _read_start(response)).strip()
                error = f"HTTP {status_code}: {excerpt}" if excerpt else f"HTTP {status_code}"
    except (TimeoutError, httpx.TimeoutException):
        error = f"timeout after {timeout} s"
    except httpx.ConnectError as exc:
        error = f"connection failed: {_short(exc)}"
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        error = f"invalid URL: {_short(exc)}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {_short(exc)}"
    return Attempt(
        status_code=status_code,
        error=error,
        duration_ms=(time.perf_counter() - started) * 1000,
        delivered=not error,
    )


async def _read_start(response: httpx.Response) -> str:
    """The first characters of the response body, reading no more than 1 KiB of it."""
    received = bytearray()
    async for chunk in response.aiter_raw():
        received += chunk
        if len(received) >= _RESPONSE_READ_LIMIT:
            break
    text = bytes(received[:_RESPONSE_READ_LIMIT]).decode("utf-8", "replace")
    return text[:_EXCERPT_CHARS]


def _short(exc: Exception) -> str:
    return (str(exc) or type(exc).__name__)[:_EXCERPT_CHARS]


def check_url(url: str, *, allow_private: bool = False) -> str | None:
    """Why ``url`` is refused as a subscription URL, or None if it is acceptable.

    ``allow_private`` (development only) also admits http, localhost and private addresses.
    No DNS lookup is made: a public name that resolves to a private address passes.
    """
    if len(url) > MAX_URL_LENGTH:
        return f"URL is longer than {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError unless the port is a number in range
    except ValueError as exc:
        return f"URL is not valid: {exc}"
    if parts.scheme not in ("https", "http"):
        return f"URL scheme must be https, not {parts.scheme or 'missing'!r}"
    if parts.scheme == "http" and not allow_private:
        return "URL scheme must be https (http is allowed only in development)"
    if "@" in parts.netloc:
        return "URL must not contain credentials (user:password@)"
    host = (parts.hostname or "").removesuffix(".")
    if not host:
        return "URL has no host"
    if not all(c.isalnum() or c in "-._:" for c in host):
        return f"URL host {host!r} contains characters not allowed in a host name"
    if allow_private:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return f"URL host {host!r} is a local name"
    address = _ip_literal(host)
    if address is not None and not _is_public(address):
        return f"URL host {host!r} is not a public IP address"
    return None


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` denotes if it is an IP literal, including the legacy IPv4 forms
    (``127.1``, ``2130706433``, ``0x7f.0.0.1``) that the system resolver also accepts."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def event_body(
    event_id: str, kind: str, tenant_id: str, occurred_at: datetime, data: Mapping[str, object]
) -> bytes:
    """The JSON body of one event: compact, UTF-8, keys in a fixed order.

    ``occurred_at`` must be timezone-aware; it is sent in UTC, ISO 8601 with ``Z``
    (``2024-05-01T12:00:00Z``, microseconds only when set).
    """
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise ValueError("occurred_at must be timezone-aware")
    stamp = occurred_at.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z"
    payload = {
        "id": event_id,
        "kind": kind,
        "tenant_id": tenant_id,
        "occurred_at": stamp,
        "data": dict(data),
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )
