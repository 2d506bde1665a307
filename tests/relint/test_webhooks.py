import asyncio
import hashlib
import hmac
import math
import random
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from relint.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    MAX_ATTEMPTS,
    RETRY_SCHEDULE,
    SIGNATURE_HEADER,
    Attempt,
    check_url,
    deliver,
    event_body,
    new_secret,
    next_attempt_at,
    sign,
    verify,
)

SECRET = "whsec_test-secret"
NOW = 1_700_000_000
BODY = b'{"id":"evt_1","kind":"score.dropped"}'
URL = "https://partner.example/hooks/relint"


def _v1(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# --- secrets and signatures -----------------------------------------------------------


def test_new_secret_is_prefixed_random_urlsafe() -> None:
    first, second = new_secret(), new_secret()
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", first)
    assert first != second


def test_sign_matches_independent_hmac_vector() -> None:
    assert sign(SECRET, NOW, BODY) == f"t={NOW},v1={_v1(SECRET, NOW, BODY)}"


def test_sign_verify_round_trip() -> None:
    assert verify(SECRET, sign(SECRET, NOW, BODY), BODY, now=NOW)


@given(secret=st.text(), timestamp=st.integers(0, 10**11), body=st.binary())
def test_sign_verify_round_trip_any_input(secret: str, timestamp: int, body: bytes) -> None:
    assert verify(secret, sign(secret, timestamp, body), body, now=timestamp)


def test_verify_refuses_tampered_body_and_wrong_secret() -> None:
    header = sign(SECRET, NOW, BODY)
    assert not verify(SECRET, header, BODY + b" ", now=NOW)
    assert not verify("whsec_other", header, BODY, now=NOW)


def test_verify_tolerance_is_inclusive_both_ways() -> None:
    header = sign(SECRET, NOW, BODY)
    assert verify(SECRET, header, BODY, now=NOW + 300)
    assert verify(SECRET, header, BODY, now=NOW - 300)
    assert not verify(SECRET, header, BODY, now=NOW + 301)  # stale
    assert not verify(SECRET, header, BODY, now=NOW - 301)  # from the future
    assert verify(SECRET, header, BODY, now=NOW + 3600, tolerance_seconds=3600)


def test_verify_accepts_any_matching_v1_for_secret_rotation() -> None:
    old, new = _v1("whsec_old", NOW, BODY), _v1("whsec_new", NOW, BODY)
    header = f"t={NOW},v1={old},v1={new}"
    assert verify("whsec_old", header, BODY, now=NOW)
    assert verify("whsec_new", header, BODY, now=NOW)
    assert not verify("whsec_third", header, BODY, now=NOW)


def test_sign_with_several_secrets_gives_one_v1_each_in_order() -> None:
    header = sign(["whsec_new", "whsec_old"], NOW, BODY)
    assert header == f"t={NOW},v1={_v1('whsec_new', NOW, BODY)},v1={_v1('whsec_old', NOW, BODY)}"
    assert verify("whsec_new", header, BODY, now=NOW)
    assert verify("whsec_old", header, BODY, now=NOW)
    assert not verify("whsec_third", header, BODY, now=NOW)
    assert sign([SECRET], NOW, BODY) == sign(SECRET, NOW, BODY)


def test_sign_refuses_no_secret_at_all() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        sign([], NOW, BODY)


def test_verify_tolerates_spaces_and_unknown_schemes() -> None:
    header = f" t = {NOW} , v0=abc,  v1 = {_v1(SECRET, NOW, BODY)} "
    assert verify(SECRET, header, BODY, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "",
        ",,,",
        "garbage",
        f"t={NOW}",
        f"v1={_v1(SECRET, NOW, BODY)}",
        f"t=,v1={_v1(SECRET, NOW, BODY)}",
        f"t=abc,v1={_v1(SECRET, NOW, BODY)}",
        f"t=+{NOW},v1={_v1(SECRET, NOW, BODY)}",
        f"t=-{NOW},v1={_v1(SECRET, NOW, BODY)}",
        f"t={NOW:_},v1={_v1(SECRET, NOW, BODY)}",
        f"t={'9' * 5000},v1={_v1(SECRET, NOW, BODY)}",
        f"t={NOW},t={NOW},v1={_v1(SECRET, NOW, BODY)}",
        f"t={NOW},v1=",
        f"t={NOW},v1=é\ud800",
        f"t={NOW},v1={_v1(SECRET, NOW, BODY).upper()}",
    ],
)
def test_verify_refuses_malformed_headers(header: str) -> None:
    assert verify(SECRET, header, BODY, now=NOW) is False


@given(header=st.text(), body=st.binary(max_size=64), now=st.integers(-(10**20), 10**20))
def test_verify_never_raises_on_arbitrary_text(header: str, body: bytes, now: int) -> None:
    assert verify(SECRET, header, body, now=now) is False


@given(
    parts=st.lists(
        st.tuples(st.sampled_from(["t", "v1", " t ", "v1 ", "x", ""]), st.text(max_size=80))
    )
)
def test_verify_never_raises_on_header_shaped_text(parts: list[tuple[str, str]]) -> None:
    header = ",".join(f"{key}={value}" for key, value in parts)
    assert verify(SECRET, header, BODY, now=NOW) is False


# --- retries ----------------------------------------------------------------------------

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_retry_schedule_boundaries() -> None:
    assert MAX_ATTEMPTS == len(RETRY_SCHEDULE) + 1 == 9
    assert next_attempt_at(1, T0) == T0 + timedelta(seconds=10)
    assert next_attempt_at(2, T0) == T0 + timedelta(seconds=30)
    assert next_attempt_at(MAX_ATTEMPTS - 1, T0) == T0 + timedelta(hours=12)
    assert next_attempt_at(MAX_ATTEMPTS, T0) is None
    assert next_attempt_at(MAX_ATTEMPTS + 5, T0) is None


def test_retry_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next_attempt_at(0, T0)


@given(attempts=st.integers(1, MAX_ATTEMPTS - 1), seed=st.integers())
def test_retry_jitter_adds_at_most_ten_percent(attempts: int, seed: int) -> None:
    base = RETRY_SCHEDULE[attempts - 1]
    at = next_attempt_at(attempts, T0, jitter=random.Random(seed))
    assert at is not None
    delay = (at - T0).total_seconds()
    assert base <= delay <= base * 1.1


def test_retry_jitter_spreads_and_is_reproducible() -> None:
    delays = {next_attempt_at(3, T0, jitter=random.Random(seed)) for seed in range(50)}
    assert len(delays) > 40
    assert next_attempt_at(3, T0, random.Random(7)) == next_attempt_at(3, T0, random.Random(7))


# --- delivery -----------------------------------------------------------------------------


async def _deliver(client: httpx.AsyncClient, url: str = URL, timeout: float = 10.0) -> Attempt:
    return await deliver(
        client,
        url,
        SECRET,
        event_kind="score.dropped",
        delivery_id="dlv_42",
        body=BODY,
        now=NOW,
        timeout=timeout,
    )


async def test_deliver_posts_signed_body_with_exact_headers(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(204))
    async with httpx.AsyncClient() as client:
        attempt = await _deliver(client)
    assert attempt.delivered
    assert attempt.status_code == 204
    assert attempt.error == ""
    assert attempt.duration_ms >= 0
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.content == BODY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "relint-webhooks/1"
    assert request.headers["Accept-Encoding"] == "identity"
    assert request.headers[EVENT_HEADER] == "score.dropped"
    assert request.headers[DELIVERY_HEADER] == "dlv_42"
    assert request.headers[SIGNATURE_HEADER] == f"t={NOW},v1={_v1(SECRET, NOW, BODY)}"
    assert verify(SECRET, request.headers[SIGNATURE_HEADER], request.content, now=NOW + 5)


async def test_deliver_signs_with_every_secret_given(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))
    async with httpx.AsyncClient() as client:
        attempt = await deliver(
            client, URL, ["whsec_new", "whsec_old"], "score.dropped", "dlv_42", BODY, NOW
        )
    assert attempt.delivered
    header = route.calls.last.request.headers[SIGNATURE_HEADER]
    assert header.count("v1=") == 2
    assert verify("whsec_new", header, BODY, now=NOW)
    assert verify("whsec_old", header, BODY, now=NOW)


async def test_deliver_500_is_not_delivered_with_body_excerpt(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(500, text="database on fire\n"))
    async with httpx.AsyncClient() as client:
        attempt = await _deliver(client)
    assert not attempt.delivered
    assert attempt.status_code == 500
    assert attempt.error == "HTTP 500: database on fire"


async def test_deliver_error_excerpt_is_200_chars(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(503, text="é" * 300))
    async with httpx.AsyncClient() as client:
        attempt = await _deliver(client)
    assert attempt.error == "HTTP 503: " + "é" * 200


async def test_deliver_error_without_body(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(404))
    async with httpx.AsyncClient() as client:
        attempt = await _deliver(client)
    assert (attempt.status_code, attempt.error, attempt.delivered) == (404, "HTTP 404", False)


async def test_deliver_does_not_follow_redirects(respx_mock: respx.MockRouter) -> None:
    target = "https://internal.example/admin"
    respx_mock.post(URL).mock(return_value=httpx.Response(301, headers={"Location": target}))
    elsewhere = respx_mock.post(target).mock(return_value=httpx.Response(200))
    async with httpx.AsyncClient(follow_redirects=True) as client:
        attempt = await _deliver(client)
    assert not attempt.delivered
    assert attempt.status_code == 301
    assert attempt.error == "redirect not followed"
    assert not elsewhere.called


async def test_deliver_any_3xx_is_a_failure(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(304))
    async with httpx.AsyncClient() as client:
        attempt = await _deliver(client)
    assert (attempt.status_code, attempt.error, attempt.delivered) == (
        304,
        "redirect not followed",
        False,
    )


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_deliver_timeout(respx_mock: respx.MockRouter, exc: type[Exception]) -> None:
    respx_mock.post(URL).mock(side_effect=exc)
    async with httpx.AsyncClient() as client:
        attempt = await _deliver(client)
    assert attempt == Attempt(None, "timeout after 10.0 s", attempt.duration_ms, False)


async def test_deliver_timeout_bounds_the_whole_attempt(respx_mock: respx.MockRouter) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    respx_mock.post(URL).mock(side_effect=hang)
    async with httpx.AsyncClient() as client:
        attempt = await _deliver(client, timeout=0.05)
    assert not attempt.delivered
    assert attempt.error == "timeout after 0.05 s"
    assert attempt.duration_ms < 5000


async def test_deliver_connection_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    async with httpx.AsyncClient() as client:
        attempt = await _deliver(client)
    assert not attempt.delivered
    assert attempt.status_code is None
    assert attempt.error == "connection failed: [Errno 111] Connection refused"


async def test_deliver_other_transport_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(side_effect=httpx.RemoteProtocolError("peer closed connection"))
    async with httpx.AsyncClient() as client:
        attempt = await _deliver(client)
    assert attempt.error == "RemoteProtocolError: peer closed connection"


@pytest.mark.parametrize("url", ["not a url", "ftp://partner.example/hook", "https://[::1/"])
async def test_deliver_invalid_url(url: str) -> None:
    async with httpx.AsyncClient() as client:
        attempt = await _deliver(client, url=url)
    assert not attempt.delivered
    assert attempt.status_code is None
    assert attempt.error.startswith("invalid URL: ")


class _EndlessBody(httpx.AsyncByteStream):
    def __init__(self) -> None:
        self.sent = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.sent += 100
            yield b"x" * 100

    async def aclose(self) -> None:
        self.closed = True


async def test_deliver_reads_at_most_1_kib_of_a_huge_response(
    respx_mock: respx.MockRouter,
) -> None:
    endless = _EndlessBody()
    respx_mock.post(URL).mock(return_value=httpx.Response(500, stream=endless))
    async with httpx.AsyncClient() as client:
        attempt = await _deliver(client)
    assert attempt.error == "HTTP 500: " + "x" * 200
    assert endless.sent <= 1100
    assert endless.closed


async def test_deliver_does_not_read_a_successful_body(respx_mock: respx.MockRouter) -> None:
    endless = _EndlessBody()
    respx_mock.post(URL).mock(return_value=httpx.Response(200, stream=endless))
    async with httpx.AsyncClient() as client:
        attempt = await _deliver(client)
    assert attempt.delivered
    assert endless.sent == 0


# --- subscription URLs -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://partner.example/hooks",
        "HTTPS://Partner.Example:8443/hooks?x=1",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://bücher.example/hook",
        "https://a.example/" + "p" * (2000 - len("https://a.example/")),
    ],
)
def test_check_url_accepts_public_https(url: str) -> None:
    assert check_url(url) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://partner.example/hook", "must be https (http is allowed only in development)"),
        ("ftp://partner.example/hook", "must be https, not 'ftp'"),
        ("partner.example/hook", "must be https, not 'missing'"),
        ("https:///hook", "has no host"),
        ("https://:443/hook", "has no host"),
        ("https://user:pass@partner.example/hook", "must not contain credentials"),
        ("https://token@partner.example/hook", "must not contain credentials"),
        ("https://partner.example:99999/hook", "not valid"),
        ("https://[::1/hook", "not valid"),
        ("https://a.example/" + "p" * 2000, "longer than 2000 characters"),
        ("https://exa mple.com/hook", "characters not allowed"),
        ("https://10.0.0.1/hook", "not a public IP address"),
        ("https://192.168.1.20/hook", "not a public IP address"),
        ("https://127.0.0.1/hook", "not a public IP address"),
        ("https://127.1/hook", "not a public IP address"),
        ("https://2130706433/hook", "not a public IP address"),
        ("https://0x7f.0.0.1/hook", "not a public IP address"),
        ("https://0.0.0.0/hook", "not a public IP address"),
        ("https://100.64.0.1/hook", "not a public IP address"),
        ("https://169.254.169.254/latest/meta-data", "not a public IP address"),
        ("https://224.0.0.1/hook", "not a public IP address"),
        ("https://240.0.0.1/hook", "not a public IP address"),
        ("https://[::1]/hook", "not a public IP address"),
        ("https://[fe80::1]/hook", "not a public IP address"),
        ("https://[fc00::1]/hook", "not a public IP address"),
        ("https://[::ffff:127.0.0.1]/hook", "not a public IP address"),
        ("https://localhost/hook", "is a local name"),
        ("https://LOCALHOST./hook", "is a local name"),
        ("https://api.localhost/hook", "is a local name"),
    ],
)
def test_check_url_refuses(url: str, reason: str) -> None:
    refused = check_url(url)
    assert refused is not None
    assert reason in refused


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8000/hook", "http://127.0.0.1/hook", "https://10.0.0.1/hook"],
)
def test_check_url_allow_private_admits_development_targets(url: str) -> None:
    assert check_url(url) is not None
    assert check_url(url, allow_private=True) is None


def test_check_url_allow_private_still_refuses_credentials_and_other_schemes() -> None:
    assert check_url("http://u:p@localhost/", allow_private=True) is not None
    assert check_url("ftp://localhost/", allow_private=True) is not None


# --- event bodies -------------------------------------------------------------------------


def test_event_body_exact_bytes() -> None:
    body = event_body(
        "evt_1",
        "score.dropped",
        "tenant_7",
        datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
        {"account": "Zoë & Co", "score": 0.5, "tags": ["churn"], "owner": None},
    )
    assert (
        body
        == (
            '{"id":"evt_1","kind":"score.dropped","tenant_id":"tenant_7",'
            '"occurred_at":"2024-05-01T12:00:00Z",'
            '"data":{"account":"Zoë & Co","score":0.5,"tags":["churn"],"owner":null}}'
        ).encode()
    )


def test_event_body_keeps_microseconds() -> None:
    body = event_body("e", "k", "t", datetime(2024, 5, 1, 12, 0, 0, 250, tzinfo=UTC), {})
    assert b'"occurred_at":"2024-05-01T12:00:00.000250Z"' in body


def test_event_body_refuses_naive_time_and_nan() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        event_body("e", "k", "t", datetime(2024, 5, 1, 12, 0), {})
    with pytest.raises(ValueError, match="JSON"):
        event_body("e", "k", "t", T0, {"score": math.nan})
