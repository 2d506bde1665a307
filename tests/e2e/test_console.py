"""The console, end to end: the four services as processes with a small demo company, the page
opened in headless Chromium (Debian's package, driven by Playwright), and what a person sees
checked against what the public graph says.

Chromium and Playwright are required, not optional: without them these tests fail and say what
to install (`uv sync` and `scripts/install-browser.sh`)."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.console import CONTENT_SECURITY_POLICY, console_router
from relint_devstack.launcher import Stack, _load_demo, delivered_to

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("RELINT_CHROMIUM", "/usr/bin/chromium"))
CUSTOMERS = 60
CACHE_SECONDS = 3
STEADY = 5.0  # seconds the at-risk customers worth a look stay the same (see _settle)
SEED = 11
SCREENSHOT = Path("/tmp/relint-console.png")
# Generous: the suite runs two workers on two cores beside the four services.
WAIT_MS = 60_000
COMING_APART = {"differentiating", "circumscribing", "stagnating", "avoiding", "terminating"}

TYPES_PLACED = """{ customers(first: 100) { edges { node { name
  relationship { relationshipType stage } } } } }"""
AT_RISK = """{ atRisk(limit: 20) { customerId name
  relationship { riskReasons relationshipType }
  nextBestActions(limit: 5) { title } alerts(openOnly: true, limit: 10) { id } } }"""
CUSTOMER_OPEN_ALERTS = """query ($id: ID!) { customer(id: $id) {
  alerts(openOnly: true, limit: 10) { id customerId } } }"""
OPEN_ALERTS = "{ alerts(openOnly: true, limit: 20) { id customerId kind reason } }"
CUSTOMER = """query ($id: ID!, $start: DateTime) { customer(id: $id) { name
  relationship { relationshipType
    explanation(start: $start, top: 8) { sentence drivers { interactionId } } }
  recentInteractions(limit: 20) { id kind } nextBestActions(limit: 5) { title }
  alerts(limit: 10) { id } } }"""
TIMELINE_RISK = """query ($id: ID!) { customer(id: $id) { relationship {
  timeline(points: 3) { at risk } } } }"""
SIMILAR = """query ($id: ID!) { customer(id: $id) {
  similarCustomers(limit: 5) { customerId similarity reasons } } }"""
WORKLIST = """query ($team: String) { worklist(team: $team, limit: 20) {
  customerId kind title reason urgency dueAt standardKey employee } }"""
PLAYBOOK = "{ playbook { version yaml standards { key title team } } }"
PUBLISH = """mutation ($yaml: String!) { publishPlaybook(yaml: $yaml) {
  __typename ... on Playbook { version } ... on InvalidPlaybook { problems { path reason } } } }"""
LENSES = ("serviceImpact", "journeyEndings", "stars", "engagementSales", "returnOnRelationship")
PORTFOLIO = """{ portfolio(limit: 500) { customerCount
  types { relationshipType customers } stages { stage customers comingApart }
  points { customerId name relationshipType } pareto { topShare } } }"""


# ------------------------------------------------------------------ the page, without a stack


def _console_client() -> TestClient:
    app = FastAPI()
    app.include_router(console_router())
    return TestClient(app)


def test_the_page_is_served_with_a_strict_policy_and_never_cached() -> None:
    client = _console_client()
    for path in ("/console", "/console/"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
    policy = dict(
        directive.strip().split(" ", 1) for directive in CONTENT_SECURITY_POLICY.split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["style-src"] == policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    # Nothing from anywhere else: no external script, style or font in the page.
    html = page.text
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html


def test_the_assets_are_revalidated_and_nothing_else_is_served() -> None:
    client = _console_client()
    for name, media in (("console.js", "text/javascript"), ("console.css", "text/css")):
        asset = client.get(f"/console/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(media)
        assert asset.headers["cache-control"] == "no-cache"
        assert asset.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        again = client.get(f"/console/{name}", headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        changed = client.get(f"/console/{name}", headers={"If-None-Match": '"stale"'})
        assert changed.status_code == 200
    for missing in ("index.html.bak", "..%2Fconsole.py", "secrets.json"):
        assert client.get(f"/console/{missing}").status_code == 404
    script = client.get("/console/console.js").text
    # The script talks to this origin's graph only, and never writes markup from data.
    assert 'fetch("/graphql"' in script
    assert "innerHTML" not in script
    assert "http://" not in script.replace("http://www.w3.org/2000/svg", "")


# ------------------------------------------------------------------ the platform with demo data


def _reply(stack: Stack, key: str, query: str, **variables: Any) -> dict[str, Any]:
    """The gateway's whole answer to a query: data and any errors."""
    reply = httpx.post(
        stack.url("gateway") + "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def _graph(stack: Stack, key: str, query: str, **variables: Any) -> dict[str, Any]:
    body = _reply(stack, key, query, **variables)
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def _settle(stack: Stack, key: str) -> None:
    """Wait until both subscribers have every demo interaction, every customer is placed on
    the value map, the first alerts are raised and an at-risk customer has next actions and
    alerts: a demo company worth looking at. While scoring is still busy with the load a
    query may time out upstream; that is "not yet", asked again."""
    marker = stack.data_dir / f"demo-loaded-{CUSTOMERS}-{SEED}"
    accepted = json.loads(marker.read_text())["accepted"]
    deadline = time.monotonic() + 240
    last: Any = None
    # The same customers worth a look in polls over STEADY seconds: scoring judges a load's
    # customers again once it has settled, and the at-risk list moves meanwhile.
    worth: set[str] = set()
    steady_since = time.monotonic()
    while True:
        behind = [s for s in ("scoring", "playbook") if delivered_to(stack, s) < accepted]
        if not behind:
            placed = _graph_when_answered(stack, key, TYPES_PLACED)
            alerts = _graph_when_answered(stack, key, OPEN_ALERTS)
            at_risk = _graph_when_answered(stack, key, AT_RISK)
            last = placed, alerts, at_risk
            if placed is not None and alerts is not None and at_risk is not None:
                edges = placed["customers"]["edges"]
                unplaced = [
                    e["node"]["name"]
                    for e in edges
                    if not (e["node"]["relationship"] or {}).get("relationshipType")
                ]
                # And somebody at risk with next actions and alerts to click on (the
                # retention model and the alerts come from scoring's worker passes).
                now_worth = {
                    c["customerId"]
                    for c in at_risk["atRisk"]
                    if c["nextBestActions"] and c["alerts"]
                }
                if now_worth != worth:
                    worth, steady_since = now_worth, time.monotonic()
                steady = time.monotonic() - steady_since >= STEADY
                if (
                    len(edges) == CUSTOMERS
                    and not unplaced
                    and alerts["alerts"]
                    and worth
                    and steady
                ):
                    return
        assert time.monotonic() < deadline, (
            f"not settled: behind {behind}, last {last}; scoring's log ends:\n"
            f"{stack.log_tail('scoring')}"
        )
        time.sleep(0.5)


def _graph_when_answered(stack: Stack, key: str, query: str) -> dict[str, Any] | None:
    """The data of a query answered whole, or None while a service is still too busy."""
    body = _reply(stack, key, query)
    return None if body.get("errors") else body["data"]


@pytest.fixture(scope="module")
def playwright_api() -> Any:
    """Playwright and Chromium, or a failure that says what to install, before anything starts."""
    try:
        sync_api = importlib.import_module("playwright.sync_api")
    except ImportError:
        pytest.fail(
            "Playwright for Python is missing: run `uv sync` (it is a dev dependency of the "
            "workspace); the console's end-to-end test drives Chromium with it."
        )
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: run `scripts/install-browser.sh` (as root it "
            "installs Debian's chromium package; set RELINT_CHROMIUM for another path)."
        )
    return sync_api


@pytest.fixture(scope="module")
def platform(
    playwright_api: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, str]]:
    stack = Stack.on_free_ports(
        tmp_path_factory.mktemp("console"),
        # Place customers on the value map every second instead of every 30; keep what
        # the gateway's entity cache holds a few seconds, so an outage shows soon.
        extra_env={
            "SCORING_CLASSIFY_SECONDS": "1",
            "GATEWAY_ENTITY_CACHE_SECONDS": str(CACHE_SECONDS),
        },
    )
    stack.migrate()
    scopes = ("ingest:write", "graph:read", "graph:write")
    key = str(stack.issue_key("console-co", "demo-crm", scopes)["api_key"])
    with stack.running():
        _load_demo(stack, key, CUSTOMERS, SEED)
        _settle(stack, key)
        yield stack, key


@pytest.fixture(scope="module")
def chromium(playwright_api: Any, platform: tuple[Stack, str]) -> Iterator[Any]:
    # Started after the demo is loaded: Playwright's sync API holds an event loop in this
    # thread, and the demo loader runs one of its own.
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


class _Page:
    """A browser page that records what went wrong in it: script errors and what the browser
    logs as errors (a resource that failed to load, a Content-Security-Policy violation)."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.errors: list[str] = []
        # The page's own answers from the graph, by operation: alerts are raised and types
        # placed again as time passes, so what the page shows is compared with what it got.
        self.responses: dict[str, Any] = {}
        self.page.on("response", self._record)
        self.page.on("pageerror", lambda error: self.errors.append(f"script error: {error}"))
        self.page.on(
            "console",
            lambda message: (
                self.errors.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )

    def _record(self, response: Any) -> None:
        if response.url.endswith("/graphql") and response.request.method == "POST":
            words = str(json.loads(response.request.post_data or "{}").get("query", "")).split()
            if len(words) > 1 and words[0] in ("query", "mutation"):
                self.responses[words[1].split("(")[0]] = response

    def answer(self, operation: str) -> dict[str, Any]:
        data: dict[str, Any] = self.responses[operation].json()["data"]
        return data

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).inner_text())

    def texts(self, selector: str) -> list[str]:
        return [str(t).strip() for t in self.page.locator(selector).all_inner_texts()]

    def ready(self, selector: str, panel: str) -> None:
        """Wait for a panel's chart or list; if it failed, fail with what the page said."""
        self.page.wait_for_selector(f"{selector}[data-state=ready], {selector}[data-state=failed]")
        state = self.page.locator(selector).get_attribute("data-state")
        said = self.texts(f'[data-problems-for="{panel}"] .problem')
        assert state == "ready", f"the {panel} panel shows nothing; the page says: {said}"


def test_a_person_sees_the_portfolio_the_customers_at_risk_and_one_customer(
    platform: tuple[Stack, str], chromium: Any
) -> None:
    stack, key = platform
    console = stack.url("gateway") + "/console"
    browser = _Page(chromium)
    page = browser.page
    try:
        # A key the gateway does not know: said in plain words, nothing else shown.
        page.goto(console)
        assert page.locator("#board").is_hidden()
        page.fill("#key-input", "rik_0123456789abcdef_not-a-real-secret")
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("#problems .problem")
        refusal = browser.text("#problems")
        assert "did not accept the key" in refusal
        assert "invalid or revoked key" in refusal
        assert page.locator("#board").is_hidden()

        # The real key, typed in: the board appears, and a reload keeps it for the session.
        page.fill("#key-input", key)
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("#board:not([hidden])")
        assert browser.text("#problems") == ""
        page.reload()
        page.wait_for_selector("#board:not([hidden])")
        # A link with the key in its fragment works in a new tab (which has no session yet),
        # and the key leaves the address bar.
        linked = browser.context.new_page()
        linked.goto(console + "#key=" + key)
        linked.wait_for_selector("#at-risk-list[data-state=ready]")
        assert linked.url == console
        linked.close()

        _at_risk_list(browser, stack, key)
        _open_alerts(browser, stack, key)
        customer_id = _one_customer(browser, stack, key)
        _acknowledging_an_alert(browser, chromium, stack, key, customer_id)
        _a_service_down_is_said_in_plain_words(browser, stack, customer_id)
        assert browser.errors == [], browser.errors
        _portfolio(browser, stack, key)
        assert browser.errors == [], browser.errors
        _similar_customers(browser, stack, key)
        _analysis(browser, stack, key)
        assert browser.errors == [], browser.errors
        _worklist(browser, stack, key)
        _playbook_versions(browser, stack, key)
        assert browser.errors == [], browser.errors
    finally:
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.context.close()


def _at_risk_list(browser: _Page, stack: Stack, key: str) -> None:
    browser.ready("#at-risk-list", "at-risk")
    answered = browser.answer("ConsoleAtRisk")["atRisk"]
    expected = {c["name"]: c["relationship"]["riskReasons"] for c in answered}
    assert expected, "the demo company has nobody at risk: nothing to look at"
    items = browser.page.locator("#at-risk-list .risk-item")
    shown: dict[str, list[str]] = {}
    for index in range(items.count()):
        item = items.nth(index)
        reasons = [str(t).strip() for t in item.locator(".reasons li").all_inner_texts()]
        shown[str(item.locator(".customer-link").inner_text()).strip()] = reasons
    assert shown == expected
    assert all(shown.values()), "an at-risk customer is shown without a reason"


def _at_risk(stack: Stack, key: str) -> list[dict[str, Any]]:
    return list(_graph(stack, key, AT_RISK)["atRisk"])


def _open_alerts(browser: _Page, stack: Stack, key: str) -> None:
    browser.ready("#alert-list", "alerts")
    alerts = browser.answer("ConsoleAlerts")["alerts"]
    assert alerts, "the demo company has no open alert: nothing to look at"
    items = browser.page.locator("#alert-list .alert-item")
    assert items.count() == len(alerts)
    shown_ids = {items.nth(i).get_attribute("data-alert-id") for i in range(items.count())}
    assert shown_ids == {a["id"] for a in alerts}
    # Each alert names its customer (not its id) and says why.
    first = alerts[0]
    names = _graph(stack, key, CUSTOMER, id=first["customerId"])["customer"]
    row = browser.page.locator(f'#alert-list .alert-item[data-alert-id="{first["id"]}"]')
    assert row.locator(".customer-link").inner_text().strip() == names["name"]
    assert row.locator(".alert-reason").inner_text().strip() == first["reason"]


def _one_customer(browser: _Page, stack: Stack, key: str) -> str:
    """Click an at-risk customer that has next actions and alerts, and look at it."""
    listed = {c["customerId"] for c in browser.answer("ConsoleAtRisk")["atRisk"]}
    chosen = next(
        (
            c
            for c in _at_risk(stack, key)
            if c["customerId"] in listed and c["nextBestActions"] and c["alerts"]
        ),
        None,
    )
    assert chosen is not None, "no at-risk customer with next actions and alerts"
    page = browser.page
    link = page.locator(f'#at-risk-list .customer-link[data-customer-id="{chosen["customerId"]}"]')
    link.click()
    page.wait_for_selector(
        f'#customer-view[data-state=ready][data-customer-id="{chosen["customerId"]}"]'
    )
    view = "#customer-view"
    start = page.locator(view).get_attribute("data-start")
    api = browser.answer("ConsoleCustomer")["customer"]
    again = _graph(stack, key, CUSTOMER, id=chosen["customerId"], start=start)["customer"]
    assert api["name"] == again["name"]
    assert browser.text(f"{view} .customer-name") == api["name"]
    assert (
        browser.text(f"{view} .customer-head .type-chip")
        == (api["relationship"]["relationshipType"])
    )
    assert browser.texts(f"{view} .risk-reasons li") == api["relationship"]["riskReasons"]
    # The value's move over the last 30 days, signed as the graph gives it.
    trend = api["relationship"]["trend"]
    shown_trend = page.locator(f"{view} .figure", has_text="30 days").locator(".figure-value")
    assert shown_trend.inner_text().startswith("+" if trend >= 0 else "-")

    # The value timeline: a line through 60 moments, with the interactions marked on it.
    timeline = page.locator(f"{view} .timeline")
    assert timeline.get_attribute("data-points") == "60"
    line = page.locator(f"{view} .timeline-chart .value-line").get_attribute("d")
    assert line is not None
    assert line.count("L") == 59
    assert "-0" not in browser.texts(f"{view} .timeline .tick")  # no negative zero on the axis
    markers = page.locator(f"{view} .interaction-marker")
    recent = {i["id"]: i["kind"] for i in _listed(api)}
    assert 1 <= markers.count() <= len(recent)
    marked = {markers.nth(i).get_attribute("data-interaction-id") for i in range(markers.count())}
    assert marked <= set(recent)
    one = markers.first
    one.dispatch_event("mouseenter")
    tip = browser.text("#tooltip")
    assert recent[str(one.get_attribute("data-interaction-id"))].replace("_", " ") in tip
    one.dispatch_event("mouseleave")
    assert page.locator("#tooltip").is_hidden()
    # The interactions that moved the value most over the period, marked where they fell.
    drivers = page.locator(f"{view} .driver-marker")
    moved = {d["interactionId"] for d in api["relationship"]["explanation"]["drivers"]}
    assert {
        drivers.nth(i).get_attribute("data-interaction-id") for i in range(drivers.count())
    } == moved
    rows = page.locator(f"{view} .interaction-table tbody tr")
    assert rows.count() == len(_listed(api))

    # Why it moved, what to do, and what a manager was told.
    assert (
        browser.text(f"{view} .explanation .sentence")
        == (api["relationship"]["explanation"]["sentence"])
    )
    titles = browser.texts(f"{view} .next-actions .action strong")
    assert titles == [a["title"] for a in api["nextBestActions"]]
    assert titles, "the chosen customer shows no next action"
    shown_alerts = page.locator(f"{view} .customer-alerts .alert-item")
    assert shown_alerts.count() == len(api["alerts"]) > 0

    # The graph's timeline carries the risk along it (scoring's, as of each moment).
    timeline = _graph(stack, key, TIMELINE_RISK, id=chosen["customerId"])["customer"]
    last = timeline["relationship"]["timeline"][-1]
    assert last["risk"] is not None
    assert 0 <= last["risk"] <= 1

    # Another period: the same 60 moments, from two years back.
    page.click(f"{view} .ranges button:has-text('2 years')")
    page.wait_for_selector(
        f"{view}[data-state=ready] .ranges button[aria-pressed=true]:has-text('2 years')"
    )
    longer = page.locator(view).get_attribute("data-start")
    assert start is not None
    assert longer is not None
    days = (datetime.fromisoformat(start) - datetime.fromisoformat(longer)).days
    assert days in (364, 365, 366)
    assert page.locator(f"{view} .timeline").get_attribute("data-points") == "60"
    return str(chosen["customerId"])


def _listed(customer: dict[str, Any]) -> list[dict[str, Any]]:
    """The interactions the console got for a customer (a page of the connection)."""
    return [edge["node"] for edge in customer["interactions"]["edges"]]


def _acknowledging_an_alert(
    browser: _Page, chromium: Any, stack: Stack, key: str, customer_id: str
) -> None:
    """A read-only key is told it may not; the key with graph:write acknowledges."""
    # The customer's own open alerts: the tenant's newest 20 need not include one of them.
    open_alerts = _graph(stack, key, CUSTOMER_OPEN_ALERTS, id=customer_id)["customer"]["alerts"]
    assert open_alerts, f"customer {customer_id} has no open alert"
    alert = open_alerts[0]
    button = f'.customer-alerts .alert-item[data-alert-id="{alert["id"]}"] .acknowledge'
    reader = str(stack.issue_key("console-co", "viewer", ("graph:read",))["api_key"])
    other = _Page(chromium)
    try:
        other.page.goto(stack.url("gateway") + "/console#key=" + reader)
        # The value map has every customer; the at-risk ranking may have moved on since.
        dot = other.page.locator(f'#value-map .dot[data-customer-id="{customer_id}"]')
        dot.wait_for(state="attached")
        dot.dispatch_event("click")
        other.page.click(button)
        refusal = other.page.locator(button.replace(" .acknowledge", " .problem"))
        assert "may not acknowledge alerts" in refusal.inner_text()
        assert other.errors == [], other.errors
    finally:
        other.context.close()
    still_open = _graph(stack, key, CUSTOMER_OPEN_ALERTS, id=customer_id)["customer"]["alerts"]
    assert alert["id"] in {a["id"] for a in still_open}

    browser.page.click(button)
    item = browser.page.locator(f'.customer-alerts .alert-item[data-alert-id="{alert["id"]}"]')
    browser.page.wait_for_selector(
        f'.customer-alerts .alert-item.acknowledged[data-alert-id="{alert["id"]}"]'
    )
    assert "acknowledged just now" in item.inner_text()
    assert alert["id"] not in {a["id"] for a in _graph(stack, key, OPEN_ALERTS)["alerts"]}


def _a_service_down_is_said_in_plain_words(browser: _Page, stack: Stack, customer_id: str) -> None:
    """With playbook down, opening the customer says which service did not answer."""
    stack.processes["playbook"].kill()
    stack.processes["playbook"].wait()
    # What the gateway's entity cache holds of this customer (opened a moment ago) still
    # answers for its few seconds; after them the outage shows.
    time.sleep(CACHE_SECONDS + 0.5)
    try:
        browser.page.click(f'#at-risk-list .customer-link[data-customer-id="{customer_id}"]')
        problem = browser.page.locator('[data-problems-for="customer"] .problem').first
        problem.wait_for()
        assert problem.get_attribute("data-code") == "UPSTREAM_UNAVAILABLE"
        assert "The playbook service did not answer" in problem.inner_text()
    finally:
        stack.start_service("playbook")
        stack.wait_ready()
        _gateway_reaches_playbook_again(stack, customer_id)


def _gateway_reaches_playbook_again(stack: Stack, customer_id: str) -> None:
    """The gateway's channel to playbook reconnects with a backoff after the outage."""
    key = str(stack.issue_key("console-co", "poller", ("graph:read",))["api_key"])
    query = "query ($id: ID!) { customer(id: $id) { nextBestActions(limit: 1) { title } } }"
    deadline = time.monotonic() + 120
    while True:
        body = httpx.post(
            stack.url("gateway") + "/graphql",
            json={"query": query, "variables": {"id": customer_id}},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ).json()
        if "errors" not in body:
            return
        assert time.monotonic() < deadline, f"the gateway still cannot reach playbook: {body}"
        time.sleep(0.5)


def _portfolio(browser: _Page, stack: Stack, key: str) -> None:
    page = browser.page
    # The page is compared with the answer it was given (types are placed again every second,
    # so a second read may differ), and that answer with what the graph says of the demo.
    with page.expect_response(
        lambda r: r.url.endswith("/graphql") and "ConsolePortfolio" in (r.request.post_data or "")
    ) as answered:
        page.reload()
    browser.ready("#value-map", "portfolio")
    portfolio = answered.value.json()["data"]["portfolio"]
    assert _graph(stack, key, PORTFOLIO)["portfolio"]["customerCount"] == CUSTOMERS
    points = portfolio["points"]
    assert portfolio["customerCount"] == len(points) == CUSTOMERS

    # A dot per customer, coloured by its relationship type as the legend says.
    dots = page.locator("#value-map .dot")
    assert dots.count() == CUSTOMERS
    shown = page.evaluate(
        """() => [...document.querySelectorAll('#value-map .dot')]
             .map(d => [d.dataset.customerId, d.dataset.type, d.getAttribute('fill')])"""
    )
    assert {customer for customer, _, _ in shown} == {p["customerId"] for p in points}
    colours: dict[str, set[str]] = {}
    for _, kind, fill in shown:
        colours.setdefault(kind, set()).add(fill)
    assert all(len(fills) == 1 for fills in colours.values()), colours
    by_type = {kind: next(iter(fills)) for kind, fills in colours.items()}
    assert len(set(by_type.values())) == len(by_type) >= 2, by_type
    legend = page.evaluate(
        """() => [...document.querySelectorAll('#type-legend li')].map(li => {
             const rgb = getComputedStyle(li.querySelector('.swatch')).backgroundColor;
             const hex = '#' + rgb.match(/\\d+/g).slice(0, 3)
               .map(n => Number(n).toString(16).padStart(2, '0')).join('');
             return [li.dataset.type, hex, li.querySelector('.legend-count').textContent];
           })"""
    )
    assert by_type.items() <= {kind: colour for kind, colour, _ in legend}.items()
    assert {kind: int(count) for kind, _, count in legend} == {
        t["relationshipType"]: t["customers"] for t in portfolio["types"]
    }
    # Pointing at a dot names the customer; clicking it opens the customer.
    point = points[0]
    dot = page.locator(f'#value-map .dot[data-customer-id="{point["customerId"]}"]')
    name = point["name"] or f"customer {point['customerId']}"
    dot.dispatch_event("mouseenter")
    assert name in browser.text("#tooltip")
    dot.dispatch_event("mouseleave")
    dot.dispatch_event("click")
    page.wait_for_selector(
        f'#customer-view[data-state=ready][data-customer-id="{point["customerId"]}"]'
    )
    assert (
        browser.text("#customer-view .customer-name")
        == _graph(stack, key, CUSTOMER, id=point["customerId"])["customer"]["name"]
    )
    assert browser.text("#pareto").startswith("The top ")

    # The stage funnel: a bar per stage, the coming-apart half marked.
    browser.ready("#stage-funnel", "funnel")
    rows = page.evaluate(
        """() => [...document.querySelectorAll('#stage-funnel .stage-row')].map(r => [
             r.dataset.stage, Number(r.dataset.customers), r.classList.contains('apart'),
             Number(r.querySelector('rect.bar').getAttribute('width'))])"""
    )
    counts = {stage: customers for stage, customers, _, _ in rows}
    assert {s["stage"]: s["customers"] for s in portfolio["stages"]}.items() <= counts.items()
    assert sum(counts.values()) == sum(s["customers"] for s in portfolio["stages"])
    assert {stage for stage, _, apart, _ in rows if apart} == COMING_APART
    assert all(width > 0 for _, customers, _, width in rows if customers)
    assert any(customers for stage, customers, _, _ in rows if stage in COMING_APART)


def _shown_actions(browser: _Page) -> list[tuple[str, str, str]]:
    """The worklist as the page shows it: (customer, standard, title) per item, in order."""
    shown: list[tuple[str, str, str]] = browser.page.evaluate(
        """() => [...document.querySelectorAll('#worklist .action')].map(a => [
             a.dataset.customerId, a.dataset.standardKey, a.querySelector('strong').textContent])"""
    )
    return [tuple(item) for item in shown]  # type: ignore[misc]


def _worklist(browser: _Page, stack: Stack, key: str) -> None:
    """The tenant's worklist as the graph ranks it, each item naming its customer; a team
    chosen shows that team's only."""
    page = browser.page
    browser.ready("#worklist", "playbook")
    actions = browser.answer("ConsoleWorklist")["worklist"]
    assert actions, "the demo company owes nothing: no worklist to look at"
    assert _shown_actions(browser) == [
        (a["customerId"], a["standardKey"] or "", a["title"]) for a in actions
    ]
    first = actions[0]
    name = _graph(stack, key, CUSTOMER, id=first["customerId"])["customer"]["name"]
    link = page.locator("#worklist .action .customer-link").first
    assert link.inner_text().strip() == name
    # The teams offered are the active playbook's; the first item's team is one of them.
    standards = browser.answer("ConsolePlaybook")["playbookVersions"][-1]["standards"]
    team_of = {s["key"]: s["team"] for s in standards}
    teams = page.evaluate(
        "() => [...document.querySelectorAll('#worklist-team option')].map(o => o.value)"
    )
    assert teams == ["", *sorted(set(team_of.values()))]
    team = team_of[first["standardKey"]]
    page.select_option("#worklist-team", team)
    page.wait_for_selector(f'#worklist[data-state=ready][data-team="{team}"]')
    mine = browser.answer("ConsoleWorklist")["worklist"]
    shown = _shown_actions(browser)
    assert shown == [(a["customerId"], a["standardKey"] or "", a["title"]) for a in mine]
    assert shown, f"team {team} owns the first item of the whole worklist but shows nothing"
    # Its own standards, and the universal precepts that bind every team.
    assert {team_of[standard] for _, standard, _ in shown} <= {team, "company"}
    assert team in {team_of[standard] for _, standard, _ in shown}
    # Clicking an item's customer opens it.
    page.locator("#worklist .action .customer-link").first.click()
    page.wait_for_selector(f'#customer-view[data-state=ready][data-customer-id="{shown[0][0]}"]')


def _playbook_versions(browser: _Page, stack: Stack, key: str) -> None:
    """The default playbook's standards; after a new version is published, it is the active
    one, and the default stays readable."""
    page = browser.page
    browser.ready("#standards", "playbook")
    default = _graph(stack, key, PLAYBOOK)["playbook"]
    assert default["version"] == 0
    assert page.locator("#playbook-version option").count() == 1
    assert _shown_standards(browser) == [s["title"] for s in default["standards"]]

    admin = str(stack.issue_key("console-co", "playbook-repo", ("admin",))["api_key"])
    renamed = default["standards"][0]["title"]
    yaml = default["yaml"].replace(f"title: {renamed}", "title: Answer our best customers fast")
    assert yaml != default["yaml"]
    published = _graph(stack, admin, PUBLISH, yaml=yaml)["publishPlaybook"]
    assert published["version"] == 1, published
    with page.expect_response(
        lambda r: r.url.endswith("/graphql") and "ConsolePlaybook" in (r.request.post_data or "")
    ):
        page.reload()
    page.wait_for_selector("#standards[data-state=ready][data-version='1']")
    options = browser.texts("#playbook-version option")
    assert len(options) == 2
    assert options[0].startswith("version 1 — published ")
    assert options[0].endswith("(active)")
    assert options[1] == "version 0 — the default"
    titles = _shown_standards(browser)
    assert titles[0] == "Answer our best customers fast"
    assert titles[1:] == [s["title"] for s in default["standards"][1:]]
    page.select_option("#playbook-version", "0")
    page.wait_for_selector("#standards[data-state=ready][data-version='0']")
    assert _shown_standards(browser) == [s["title"] for s in default["standards"]]


def _shown_standards(browser: _Page) -> list[str]:
    return [
        str(t).strip()
        for t in browser.page.locator("#standards tbody tr td:first-child").all_inner_texts()
    ]


def _similar_customers(browser: _Page, stack: Stack, key: str) -> None:
    """The open customer lists the customers like it, as the graph says; clicking one opens it."""
    page = browser.page
    view = "#customer-view"
    customer_id = page.locator(view).get_attribute("data-customer-id")
    similar = browser.answer("ConsoleCustomer")["customer"]["similarCustomers"]
    assert similar, f"customer {customer_id} has no similar customer"
    assert 1 <= len(similar) <= 5
    again = _graph(stack, key, SIMILAR, id=customer_id)["customer"]["similarCustomers"]
    assert [s["customerId"] for s in again] == [s["customerId"] for s in similar]
    assert customer_id not in {s["customerId"] for s in similar}
    items = page.locator(f"{view} .similar-customers .similar")
    assert items.count() == len(similar)
    for index, expected in enumerate(similar):
        item = items.nth(index)
        assert item.get_attribute("data-customer-id") == expected["customerId"]
        shown = float(item.locator(".similar-figure").inner_text())
        assert shown == pytest.approx(expected["similarity"], abs=0.0051)
        reasons = [str(t).strip() for t in item.locator(".similar-reasons li").all_inner_texts()]
        assert reasons == expected["reasons"]
        name = (expected["customer"] or {}).get("name") or f"customer {expected['customerId']}"
        assert item.locator(".customer-link").inner_text().strip() == name
    assert any(s["reasons"] for s in similar), "no similar customer says why"
    first = similar[0]["customerId"]
    items.first.locator(".customer-link").click()
    page.wait_for_selector(f'{view}[data-state=ready][data-customer-id="{first}"]')


def _number(text: str) -> float:
    """A figure as the page prints it: "1,234", "12%", "0.84"."""
    cleaned = text.replace(",", "").replace("%", "").strip()
    return float(cleaned) / (100 if text.strip().endswith("%") else 1)


def _rows(browser: _Page, table: str) -> list[dict[str, Any]]:
    """Each row of a lens table: its data attributes and its cells' texts."""
    rows: list[dict[str, Any]] = browser.page.evaluate(
        """(selector) => [...document.querySelectorAll(selector + ' tbody tr')]
             .filter(r => Object.keys(r.dataset).length)
             .map(r => ({...r.dataset, cells: [...r.children].map(c => c.textContent.trim()),
                         flagged_row: r.classList.contains('flagged')}))""",
        f".lens {table}",
    )
    return rows


def _interval(cell: str) -> tuple[float, float]:
    low, high = cell.split(" \u2013 ")
    return _number(low), _number(high)


def _analysis(browser: _Page, stack: Stack, key: str) -> None:
    """Every lens in its panel, with the figures, counts and intervals the graph gave it; the
    same query asked again gives the same rows."""
    page = browser.page
    with page.expect_response(
        lambda r: r.url.endswith("/graphql") and "ConsoleAnalysis" in (r.request.post_data or "")
    ) as answered:
        page.reload()
    page.wait_for_function(
        """() => [...document.querySelectorAll('.lens .lens-body')]
             .every(b => b.dataset.state === 'ready' || b.dataset.state === 'failed')""",
        timeout=120_000,
    )
    said = {lens: browser.texts(f'[data-problems-for="lens-{lens}"] .problem') for lens in LENSES}
    said["analysis"] = browser.texts('[data-problems-for="analysis"] .problem')
    states = {
        lens: page.locator(f'.lens[data-lens="{lens}"] .lens-body').get_attribute("data-state")
        for lens in LENSES
    }
    assert states == dict.fromkeys(LENSES, "ready"), said
    assert not any(said.values()), said
    body = answered.value.json()
    assert "errors" not in body, body
    analysis = body["data"]["analysis"]
    query = json.loads(answered.value.request.post_data)["query"]
    fresh = _graph(stack, key, query)["analysis"]

    # Service impact: each issue type with its hazard ratio and interval, flagged as the
    # graph flags it; then the resolved ones followed by an upsell.
    impact = analysis["serviceImpact"]
    assert impact["hazards"], "the demo company has no service issue to weigh"
    hazards = _rows(browser, ".hazard-table")
    assert [r["issueType"] for r in hazards] == [h["issueType"] for h in impact["hazards"]]
    for row, hazard in zip(hazards, impact["hazards"], strict=True):
        assert float(row["ratio"]) == hazard["hazardRatio"]
        assert (float(row["low"]), float(row["high"])) == (
            hazard["interval"]["low"],
            hazard["interval"]["high"],
        )
        assert _number(row["cells"][1]) == hazard["customersWith"]
        assert _number(row["cells"][2]) == hazard["lostAfter"]
        assert _number(row["cells"][4]) == pytest.approx(hazard["hazardRatio"], abs=0.0051)
        low, high = _interval(row["cells"][5])
        assert low == pytest.approx(hazard["interval"]["low"], abs=0.0051)
        assert high == pytest.approx(hazard["interval"]["high"], abs=0.0051)
        assert row["flagged_row"] == hazard["foreshadowsLoss"] == (hazard["interval"]["low"] > 1)
        assert (row["cells"][6] == "foreshadows loss") == hazard["foreshadowsLoss"]
    assert any(h["foreshadowsLoss"] for h in impact["hazards"]), impact["hazards"]
    upsells = _rows(browser, ".upsell-table")
    assert [r["issueType"] for r in upsells] == [u["issueType"] for u in impact["upsells"]]
    for row, upsell in zip(upsells, impact["upsells"], strict=True):
        assert _number(row["cells"][1]) == upsell["resolved"]
        assert row["cells"][2].startswith(f"{upsell['followed']:,} (")
        assert _number(row["cells"][4]) == pytest.approx(upsell["lift"], abs=0.0051)
        assert row["flagged_row"] == upsell["opensUpsell"]

    # Journey endings: causes with their lift, the counts behind it and the trend flag.
    endings = analysis["journeyEndings"]
    assert endings["causes"], "the demo company lost nobody: no journey ending to show"
    causes = _rows(browser, ".cause-table")
    assert [r["cause"] for r in causes] == [c["cause"] for c in endings["causes"]]
    for row, cause in zip(causes, endings["causes"], strict=True):
        assert row["cells"][1] == f"{cause['lostWith']:,} of {cause['lost']:,}"
        assert row["cells"][2] == f"{cause['retainedWith']:,} of {cause['retained']:,}"
        assert _number(row["cells"][3]) == pytest.approx(cause["lift"], abs=0.0051)
        low, high = _interval(row["cells"][4])
        assert low == pytest.approx(cause["interval"]["low"], abs=0.0051)
        assert high == pytest.approx(cause["interval"]["high"], abs=0.0051)
        assert row["flagged_row"] == cause["trend"]

    # Stars: the employees with their shrunk retention and how many customers it rests on.
    stars = analysis["stars"]
    assert stars["employees"], "the demo company has no employee to rank"
    employees = _rows(browser, ".star-table")
    assert [r["employee"] for r in employees] == [e["employee"] for e in stars["employees"]]
    for row, employee in zip(employees, stars["employees"], strict=True):
        assert _number(row["cells"][1]) == employee["customers"]
        assert _number(row["cells"][2]) == employee["retained"]
        assert _number(row["cells"][3]) == pytest.approx(employee["retention"], abs=0.0051)
        assert float(row["ratio"]) == employee["retention"]

    # Engagement and sales: per channel, the best lag, its correlation and interval.
    channels = analysis["engagementSales"]["channels"]
    assert channels, "the demo company has no engagement to weigh"
    shown_channels = _rows(browser, ".channel-table")
    assert [r["channel"] for r in shown_channels] == [c["channel"] for c in channels]
    for row, channel in zip(shown_channels, channels, strict=True):
        best = next(lag for lag in channel["lags"] if lag["lagMonths"] == channel["bestLagMonths"])
        assert row["cells"][3] == f"{channel['bestLagMonths']} mo"
        assert _number(row["cells"][4]) == pytest.approx(best["correlation"], abs=0.0051)
        low, high = _interval(row["cells"][5])
        assert low == pytest.approx(best["interval"]["low"], abs=0.0051)
        assert high == pytest.approx(best["interval"]["high"], abs=0.0051)
        assert _number(row["cells"][6]) == best["pairs"]
        assert row["flagged_row"] == channel["leadsRevenue"]

    # Return on Relationship: the top customers, by name, the parts beside revenue.
    top = analysis["returnOnRelationship"]["top"]
    assert top, "the demo company has no Return on Relationship to show"
    page.wait_for_function(
        """() => [...document.querySelectorAll('.return-table .customer-link')]
             .every(l => !l.textContent.startsWith('customer '))"""
    )
    returns = _rows(browser, ".return-table")
    assert [r["customerId"] for r in returns] == [c["customerId"] for c in top]
    for row, customer in zip(returns, top, strict=True):
        name = _graph(stack, key, CUSTOMER, id=customer["customerId"])["customer"]["name"]
        assert row["cells"][0] == name
        for index, part in enumerate(("revenue", "loyalty", "recommendations", "sharing", "total")):
            assert _number(row["cells"][2 + index]) == pytest.approx(customer[part], abs=0.51)
    assert any(c["loyalty"] + c["recommendations"] + c["sharing"] > 0 for c in top)

    # The same query, asked again, gives the same rows and the same counts behind them.
    assert [h["issueType"] for h in fresh["serviceImpact"]["hazards"]] == [
        h["issueType"] for h in impact["hazards"]
    ]
    assert [
        (h["customersWith"], h["lostAfter"], h["foreshadowsLoss"])
        for h in fresh["serviceImpact"]["hazards"]
    ] == [(h["customersWith"], h["lostAfter"], h["foreshadowsLoss"]) for h in impact["hazards"]]
    assert [
        (c["cause"], c["lostWith"], c["retainedWith"], c["trend"])
        for c in fresh["journeyEndings"]["causes"]
    ] == [(c["cause"], c["lostWith"], c["retainedWith"], c["trend"]) for c in endings["causes"]]
    assert [(e["employee"], e["customers"]) for e in fresh["stars"]["employees"]] == [
        (e["employee"], e["customers"]) for e in stars["employees"]
    ]
    assert [(c["channel"], c["bestLagMonths"]) for c in fresh["engagementSales"]["channels"]] == [
        (c["channel"], c["bestLagMonths"]) for c in channels
    ]
    assert {c["customerId"] for c in fresh["returnOnRelationship"]["top"]} == {
        c["customerId"] for c in top
    }

    _a_failed_lens_is_said_in_words(browser)

    # A customer in the Return on Relationship table opens on a click.
    first = top[0]["customerId"]
    page.click(f'.return-table .customer-link[data-customer-id="{first}"]')
    page.wait_for_selector(f'#customer-view[data-state=ready][data-customer-id="{first}"]')


def _a_failed_lens_is_said_in_words(browser: _Page) -> None:
    """When one lens fails (here: the gateway's answer with stars replaced by an error, as a
    scoring outage gives it), that lens says why and the others still show."""
    page = browser.page

    def without_stars(route: Any) -> None:
        if "ConsoleAnalysis" not in (route.request.post_data or ""):
            route.continue_()
            return
        reply = route.fetch()
        body = reply.json()
        body["data"]["analysis"]["stars"] = None
        body.setdefault("errors", []).append(
            {
                "message": "scoring is unavailable",
                "path": ["analysis", "stars"],
                "extensions": {"code": "UPSTREAM_UNAVAILABLE", "service": "scoring"},
            }
        )
        route.fulfill(response=reply, json=body)

    page.route("**/graphql", without_stars)
    try:
        page.reload()
        page.wait_for_function(
            """() => [...document.querySelectorAll('.lens .lens-body')]
                 .every(b => b.dataset.state === 'ready' || b.dataset.state === 'failed')""",
            timeout=120_000,
        )
    finally:
        page.unroute("**/graphql", without_stars)
    states = {
        lens: page.locator(f'.lens[data-lens="{lens}"] .lens-body').get_attribute("data-state")
        for lens in LENSES
    }
    assert states == {lens: "failed" if lens == "stars" else "ready" for lens in LENSES}
    problem = page.locator('[data-problems-for="lens-stars"] .problem')
    assert problem.count() == 1
    assert problem.get_attribute("data-code") == "UPSTREAM_UNAVAILABLE"
    assert "The scoring service did not answer" in problem.inner_text()
    for lens in LENSES:
        if lens != "stars":
            assert browser.texts(f'[data-problems-for="lens-{lens}"] .problem') == []
    assert browser.texts('[data-problems-for="analysis"] .problem') == []


# ------------------------------------------------------------------ looking back

AT_RISK_AS_OF = """query ($asOf: DateTime) { atRisk(limit: 20, asOf: $asOf) { customerId name
  relationship(asOf: $asOf) { riskReasons } } }"""
ALERTS_AS_OF = """query ($asOf: DateTime) {
  alerts(openOnly: true, limit: 20, asOf: $asOf) { id acknowledgedAt } }"""
PORTFOLIO_AS_OF = """query ($asOf: DateTime) { portfolio(asOf: $asOf) { customerCount
  stages { stage customers } } }"""
CUSTOMER_AS_OF = """query ($id: ID!, $asOf: DateTime) { customer(id: $id) {
  relationship(asOf: $asOf) { asOf relationshipType stage }
  interactions(first: 20, to: $asOf) { edges { node { id occurredAt } } } } }"""
ACKNOWLEDGE = """mutation ($id: ID!) { acknowledgeAlert(alertId: $id) { __typename } }"""
PANELS = ("#value-map", "#stage-funnel", "#at-risk-list", "#alert-list")


def _end_of(day: date) -> str:
    """The moment the console asks the graph for when a day is chosen: its end, in UTC."""
    return f"{day.isoformat()}T23:59:59Z"


def _board_as_of(browser: _Page, moment: str) -> None:
    """Wait until every panel that can look back shows `moment` ("" for now), and fail with what
    a panel said if it shows nothing."""
    for selector in PANELS:
        browser.page.wait_for_selector(
            f'{selector}[data-as-of="{moment}"]:not([data-state=loading])'
        )
    for selector, panel in zip(PANELS, ("portfolio", "funnel", "at-risk", "alerts"), strict=True):
        browser.ready(selector, panel)


def _shown_at_risk(browser: _Page) -> list[str]:
    return browser.texts("#at-risk-list .risk-item .customer-link")


def _shown_alert_ids(browser: _Page) -> list[str]:
    shown: list[str] = browser.page.evaluate(
        "() => [...document.querySelectorAll('#alert-list .alert-item')]"
        ".map(a => a.dataset.alertId)"
    )
    return shown


def _choose(browser: _Page, day: str) -> None:
    browser.page.fill("#as-of-input", day)
    browser.page.click("#as-of-form button[type=submit]")


def test_a_person_looks_back_at_the_board_as_of_a_past_day(
    platform: tuple[Stack, str], chromium: Any
) -> None:
    stack, key = platform
    console = stack.url("gateway") + "/console"
    today = datetime.now(UTC).date()
    # Within the demo's two years, long after its first customers and long before now.
    day = today - timedelta(days=120)
    moment = _end_of(day)
    browser = _Page(chromium)
    page = browser.page
    try:
        page.goto(console + "#key=" + key)
        _board_as_of(browser, "")
        assert page.url == console
        assert page.locator("#as-of-input").input_value() == ""
        assert set(browser.texts("h2 small.moment")) == {"as of now"}
        assert page.locator("[data-look-back-note]:visible").count() == 0

        # A day to come, or one before 1970, is refused in words; the board stays as it was.
        for refused, words in (
            (today + timedelta(days=2), "is in the future"),
            (date(1969, 12, 31), "is before 1970"),
        ):
            _choose(browser, refused.isoformat())
            page.wait_for_selector("#as-of-state.refused")
            said = browser.text("#as-of-state")
            assert words in said, said
            assert "The board still shows now." in said
            assert page.url == console
            assert page.locator("#at-risk-list").get_attribute("data-as-of") == ""

        # Two days chosen fast: the first day's answer, held back until the second day's is
        # shown, is not drawn over it.
        earlier = _end_of(today - timedelta(days=300))
        held: list[Any] = []

        def hold_the_earlier_day(route: Any) -> None:
            asked = json.loads(route.request.post_data or "{}")
            if (
                "ConsoleAtRisk" in asked.get("query", "")
                and (asked.get("variables") or {}).get("asOf") == earlier
            ):
                held.append(route)
                return
            route.fallback()

        page.route("**/graphql", hold_the_earlier_day)
        try:
            _choose(browser, earlier[:10])
            _choose(browser, day.isoformat())
            _board_as_of(browser, moment)
            assert len(held) == 1
            with page.expect_response(lambda r: earlier in (r.request.post_data or "")):
                held[0].fallback()
            page.wait_for_timeout(500)
        finally:
            for route in held:
                with contextlib.suppress(Exception):  # answered above, unless a check failed
                    route.fallback()
            page.unroute("**/graphql", hold_the_earlier_day)
        assert page.locator("#at-risk-list").get_attribute("data-as-of") == moment
        assert "refused" not in (page.locator("#as-of-state").get_attribute("class") or "")

        _the_board_as_of(browser, stack, key, day, moment)
        customer_id = _a_customer_as_of(browser, stack, key, moment)

        # The day is in the address (the key is not): a reload shows the same view.
        assert page.url == f"{console}#asOf={day.isoformat()}"
        shown = _shown_at_risk(browser)
        page.reload()
        _board_as_of(browser, moment)
        assert page.locator("#as-of-input").input_value() == day.isoformat()
        assert _shown_at_risk(browser) == shown
        _choose_customer(browser, customer_id, moment)
        # So does a link with a key and a day, in a new tab; the key leaves the address.
        linked = browser.context.new_page()
        linked.goto(f"{console}#key={key}&asOf={day.isoformat()}")
        linked.wait_for_selector(f'#at-risk-list[data-state=ready][data-as-of="{moment}"]')
        assert linked.url == f"{console}#asOf={day.isoformat()}"
        linked.close()

        # "Now" returns to the present.
        page.click("#as-of-now")
        _board_as_of(browser, "")
        assert page.url == console
        assert page.locator("#as-of-input").input_value() == ""
        assert set(browser.texts("h2 small.moment")) == {"as of now"}
        now = browser.answer("ConsoleAtRisk")["atRisk"]
        assert _shown_at_risk(browser) == [c["name"] for c in now]
        assert _shown_alert_ids(browser) == [
            a["id"] for a in browser.answer("ConsoleAlerts")["alerts"]
        ]
        assert page.locator("#alert-list .acknowledge").count() == len(_shown_alert_ids(browser))
        assert page.locator("[data-look-back-note]:visible").count() == 0
        # The customer open, the board looks back and returns with it.
        _choose(browser, day.isoformat())
        page.wait_for_selector(
            f'#customer-view[data-state=ready][data-customer-id="{customer_id}"]'
            f'[data-as-of="{moment}"]'
        )
        page.click("#as-of-now")
        page.wait_for_selector(
            f'#customer-view[data-state=ready][data-customer-id="{customer_id}"][data-as-of=""]'
        )
        assert browser.errors == [], browser.errors
    finally:
        page.screenshot(path=str(SCREENSHOT.with_name("relint-console-as-of.png")), full_page=True)
        browser.context.close()


def _the_board_as_of(browser: _Page, stack: Stack, key: str, day: date, moment: str) -> None:
    """Each panel that can look back shows what the graph says of `moment`; those that cannot
    say that they show now."""
    page = browser.page
    assert page.locator("#as-of-input").input_value() == day.isoformat()
    # The riskiest then, in the graph's order, each with its reasons then; not today's.
    at_risk = _graph(stack, key, AT_RISK_AS_OF, asOf=moment)["atRisk"]
    assert at_risk, f"nobody was at risk on {day}: nothing to look back at"
    assert _shown_at_risk(browser) == [c["name"] for c in at_risk]
    reasons = browser.page.locator("#at-risk-list .risk-item").first.locator(".reasons li")
    assert [str(t).strip() for t in reasons.all_inner_texts()] == (
        at_risk[0]["relationship"]["riskReasons"]
    )
    assert [c["name"] for c in at_risk] != [
        c["name"] for c in _graph(stack, key, AT_RISK_AS_OF)["atRisk"]
    ]
    # The alerts open then, as they stood then (the demo's are all raised today, so none).
    alerts = _graph(stack, key, ALERTS_AS_OF, asOf=moment)["alerts"]
    assert _shown_alert_ids(browser) == [a["id"] for a in alerts]
    assert [a["id"] for a in alerts] != [
        a["id"] for a in _graph(stack, key, ALERTS_AS_OF)["alerts"]
    ]
    if not alerts:
        assert (
            browser.text("#alert-list .empty") == f"No alert was open {_words(browser, '#alerts')}."
        )
    # Acknowledging is about now: no button while looking back.
    assert page.locator("#alert-list .acknowledge").count() == 0
    # The portfolio then, and the funnel that reads it.
    portfolio = _graph(stack, key, PORTFOLIO_AS_OF, asOf=moment)["portfolio"]
    shown = page.locator("#portfolio-count").get_attribute("data-customers")
    assert shown == str(portfolio["customerCount"])
    assert page.locator("#value-map .dot").count() == portfolio["customerCount"]
    stages = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#stage-funnel .stage-row')]
             .map(r => [r.dataset.stage, Number(r.dataset.customers)]))"""
    )
    then = {s["stage"]: s["customers"] for s in portfolio["stages"]}
    assert {stage: n for stage, n in stages.items() if n} == {s: n for s, n in then.items() if n}
    # The worklist is still there, as of now, and says so.
    browser.ready("#worklist", "playbook")
    # One wording for the moment in every heading; the playbook's says now, and why.
    moments = page.evaluate(
        """() => [...document.querySelectorAll('h2 small.moment')].map(m =>
             [m.closest('section').id, m.textContent, m.dataset.asOf])"""
    )
    words = f"as of {day.day} "
    for panel, text, as_of in moments:
        if panel == "playbook":
            assert (text, as_of) == ("as of now", ""), (panel, text)
        else:
            assert text.startswith(words), (panel, text)
            assert text.endswith(str(day.year)), (panel, text)
            assert as_of == moment, panel
    note = browser.text('[data-look-back-note="playbook"]')
    assert note.startswith("Shows now, not "), note
    assert "worklist" in note
    assert "Acknowledging is about now" in browser.text('[data-look-back-note="alerts"]')


def _words(browser: _Page, panel: str) -> str:
    """The moment a panel's heading says it shows."""
    return browser.text(f"{panel} h2 small.moment")


def _choose_customer(browser: _Page, customer_id: str, moment: str) -> None:
    browser.page.click(f'#at-risk-list .customer-link[data-customer-id="{customer_id}"]')
    browser.page.wait_for_selector(
        f'#customer-view[data-state=ready][data-customer-id="{customer_id}"][data-as-of="{moment}"]'
    )


def _a_customer_as_of(browser: _Page, stack: Stack, key: str, moment: str) -> str:
    """The first customer at risk then, opened: its relationship, timeline and interactions as of
    then; what the graph knows only now said to be now."""
    page = browser.page
    view = "#customer-view"
    first = page.locator("#at-risk-list .risk-item").first
    customer_id = str(first.get_attribute("data-customer-id"))
    _choose_customer(browser, customer_id, moment)
    then = _graph(stack, key, CUSTOMER_AS_OF, id=customer_id, asOf=moment)["customer"]
    relationship = then["relationship"]
    assert relationship is not None
    assert browser.text(f"{view} .customer-head .type-chip") == relationship["relationshipType"]
    assert browser.text(f"{view} .customer-head .stage-chip") == relationship["stage"]
    answered = browser.answer("ConsoleCustomer")["customer"]
    timeline = answered["relationship"]["timeline"]
    # The timeline ends then (its moments are evenly spaced: the last within a hair of it).
    ends = datetime.fromisoformat(timeline[-1]["at"]) - datetime.fromisoformat(moment)
    assert abs(ends.total_seconds()) < 1, timeline[-1]
    listed = [i["id"] for i in _listed(then)]
    assert listed, "the customer had no interaction by then"
    shown = page.evaluate(
        f"""() => [...document.querySelectorAll('{view} .interaction-table tbody tr')]
             .map(r => r.dataset.interactionId)"""
    )
    assert shown == listed
    assert all(
        datetime.fromisoformat(i["occurredAt"]) <= datetime.fromisoformat(moment)
        for i in _listed(then)
    )
    assert browser.text(f"{view} .interactions h4").startswith("Interactions up to ")
    for section in (".next-actions", ".playbook", ".similar-customers"):
        note = browser.text(f"{view} {section} .look-back-note")
        assert note.startswith("Shows now, not "), (section, note)
    assert page.locator(f"{view} .customer-alerts .acknowledge").count() == 0
    return customer_id
