"""The graph over fake backends: batching per level, limits, typed errors, the committed SDL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import grpc
import orjson
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from graphql import GraphQLError

from gateway.backends import AlertMessage, AlertsFound, CustomersFound, UpstreamError
from gateway.cli import SDL_FILE, sdl
from gateway.context import GatewayContext
from gateway.ids import to_global
from gateway.schema import build_schema
from relint.auth import SCOPE_ADMIN, SCOPE_GRAPH_READ, Principal
from relint.contracts.ingest.v1 import ingest_pb2
from relint.contracts.playbook.v1 import playbook_pb2
from relint.contracts.scoring.v1 import scoring_pb2

TENANT = "tenant-a"


def _stamp(seconds: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromSeconds(seconds)
    return stamp


class FakeRpcError(grpc.aio.AioRpcError):
    def __init__(self) -> None:
        super().__init__(
            grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down"
        )


class FakeBackends:
    """Answers like the services would, counts every RPC, and checks the tenant it is given."""

    def __init__(self, customers: int = 150, scoring_down: bool = False) -> None:
        self.calls: Counter[str] = Counter()
        # How many newest interactions each customer lookup asked to come with it.
        self.recent_asked: list[int] = []
        self.scoring_down = scoring_down
        # The outlooks each BatchGetCustomerPlaybooks call carried (None: not given).
        self.outlooks: list[list[playbook_pb2.CustomerOutlook] | None] = []
        # Each ListAlerts call: (how many customers, open only, as of).
        self.alerts_calls: list[tuple[int, bool, Any]] = []
        self.customers = [
            ingest_pb2.Customer(
                id=f"c{n:04d}",
                tenant_id=TENANT,
                external_id=f"cust-{n:05d}",
                name=f"Customer {n}",
                first_seen_at=_stamp(1_700_000_000),
                last_seen_at=_stamp(1_700_000_000 + n),
                interaction_count=n,
            )
            for n in range(customers)
        ]

    def _tenant(self, tenant_id: str) -> None:
        assert tenant_id == TENANT

    async def customers_by_id(
        self, tenant_id: str, ids: Sequence[str], recent: int = 0
    ) -> CustomersFound:
        self._tenant(tenant_id)
        self.calls["BatchGetCustomers"] += 1
        self.recent_asked.append(recent)
        found = [c for c in self.customers if c.id in set(ids)]
        return CustomersFound(found, self._recent([c.id for c in found], recent))

    async def customers_by_external_id(
        self, tenant_id: str, refs: Sequence[str], recent: int = 0
    ) -> CustomersFound:
        self._tenant(tenant_id)
        self.calls["LookupCustomers"] += 1
        self.recent_asked.append(recent)
        found = [c for c in self.customers if c.external_id in set(refs)]
        return CustomersFound(found, self._recent([c.id for c in found], recent))

    async def list_customers(
        self, tenant_id: str, page_size: int, page_token: str, query: str = ""
    ) -> ingest_pb2.ListCustomersResponse:
        self._tenant(tenant_id)
        self.calls["ListCustomers"] += 1
        start = int(page_token or 0)
        matching = [c for c in self.customers if query.lower() in c.name.lower()]
        page = matching[start : start + page_size]
        following = start + page_size
        return ingest_pb2.ListCustomersResponse(
            customers=page,
            next_page_token=str(following) if following < len(matching) else "",
        )

    async def list_relationships(self, request: Any) -> Any:
        """Every customer with revenue 10 x its number, filtered by the ids given."""
        self._tenant(request.tenant_id)
        self.calls["ListRelationships"] += 1
        self.last_listing = request
        ids = [c.id for c in self.customers]
        if request.customer_ids:
            ids = [i for i in ids if i in set(request.customer_ids)]
        ids.sort(key=lambda i: int(i[1:]), reverse=not request.ascending)
        start = int(request.page_token or 0)
        shown = ids[start : start + request.page_size]
        following = start + request.page_size
        return scoring_pb2.ListRelationshipsResponse(
            relationships=[
                scoring_pb2.Relationship(customer_id=i, revenue=10.0 * int(i[1:]), stage="bonding")
                for i in shown
            ],
            cursors=[str(start + k + 1) for k in range(len(shown))],
            next_page_token=str(following) if following < len(ids) else "",
        )

    async def recent_interactions(
        self, tenant_id: str, customer_ids: Sequence[str], limit: int
    ) -> list[Any]:
        self._tenant(tenant_id)
        self.calls["BatchListRecentInteractions"] += 1
        return self._recent(customer_ids, limit)

    def _recent(self, customer_ids: Sequence[str], limit: int) -> list[Any]:
        """`limit` interactions of each customer but c0149, which has none."""
        return [
            ingest_pb2.Interaction(
                id=f"{cid}-{k}",
                tenant_id=TENANT,
                customer_id=cid,
                occurred_at=_stamp(1_700_000_000 + k),
                channel="service",
                kind="ticket_opened",
                source="crm",
            )
            for cid in customer_ids
            if cid != "c0149"
            for k in range(limit)
        ]

    async def interaction_pages(self, tenant_id: str, queries: Sequence[Any]) -> list[Any]:
        """Three interactions a customer on channels sales/service, two to a page."""
        self._tenant(tenant_id)
        self.calls["BatchListInteractions"] += 1
        pages = []
        for query in queries:
            items = [
                ingest_pb2.Interaction(
                    id=f"{query.customer_id}-{k}",
                    customer_id=query.customer_id,
                    occurred_at=_stamp(1_700_000_000 - k),
                    channel=("sales", "service")[k % 2],
                    kind="call",
                    source="crm",
                )
                for k in range(3)
            ]
            items = [i for i in items if not query.channels or i.channel in query.channels]
            start = int(query.page_token or 0)
            shown = items[start : start + query.page_size]
            following = start + query.page_size
            pages.append(
                ingest_pb2.InteractionPage(
                    interactions=shown,
                    cursors=[str(start + k + 1) for k in range(len(shown))],
                    next_page_token=str(following) if following < len(items) else "",
                )
            )
        return pages

    async def employees_of(
        self, tenant_id: str, customer_ids: Sequence[str], limit: int
    ) -> list[Any]:
        self._tenant(tenant_id)
        self.calls["BatchListEmployees"] += 1
        return [
            ingest_pb2.EmployeeInvolvement(
                customer_id=c,
                employee=name,
                interaction_count=count,
                first_interaction_at=_stamp(1_600_000_000),
                last_interaction_at=_stamp(1_700_000_000),
            )
            for c in customer_ids
            for name, count in (("ann", 7), ("bob", 2))[:limit]
        ]

    async def set_relationship_types(self, tenant_id: str, types: Sequence[Any]) -> Any:
        self._tenant(tenant_id)
        self.calls["SetRelationshipTypes"] += 1
        if any(t.name == "" for t in types):
            return scoring_pb2.SetRelationshipTypesResponse(
                problems=[scoring_pb2.SettingProblem(path="types[0].name", reason="a name")]
            )
        return scoring_pb2.SetRelationshipTypesResponse(types=types)

    async def relationship_types(self, tenant_id: str) -> Any:
        self._tenant(tenant_id)
        rule = scoring_pb2.RelationshipTypeRule(
            name="Whale",
            conditions=[scoring_pb2.TypeCondition(feature="revenue", op="at_least", value=9)],
        )
        return scoring_pb2.GetRelationshipTypesResponse(types=[rule])

    async def relationships_of(
        self, tenant_id: str, customer_ids: Sequence[str], as_of: Any = None
    ) -> list[Any]:
        self._tenant(tenant_id)
        self.calls["BatchGetRelationships"] += 1
        if self.scoring_down:
            raise UpstreamError("scoring", FakeRpcError())
        return [
            scoring_pb2.Relationship(
                tenant_id=TENANT,
                customer_id=cid,
                value=float(len(cid)) if as_of is None else -1.0,
                interaction_count=1,
                updated_at=_stamp(1_700_000_000),
                relationship_type="BFF",
                stage="integrating",
            )
            for cid in customer_ids
        ]

    async def at_risk(self, tenant_id: str, limit: int, as_of: Any = None) -> list[Any]:
        """c0002 then c0001, each at the moment asked (value 7 as of one, 8 now)."""
        self._tenant(tenant_id)
        self.calls["ListAtRisk"] += 1
        self.at_risk_asked = as_of
        ranked = [
            scoring_pb2.Relationship(
                tenant_id=TENANT,
                customer_id=cid,
                risk=risk,
                value=8.0 if as_of is None else 7.0,
                updated_at=_stamp(1_700_000_000),
            )
            for cid, risk in (("c0002", 0.9), ("c0001", 0.6))
        ]
        return ranked[:limit]

    async def alerts(
        self,
        tenant_id: str,
        customer_ids: Sequence[str],
        open_only: bool,
        limit: int,
        as_of: Any = None,
    ) -> AlertsFound:
        self._tenant(tenant_id)
        self.calls["ListAlerts"] += 1
        self.alerts_asked = as_of
        self.alerts_calls.append((len(customer_ids), open_only, as_of))
        alerts: list[AlertMessage] = [
            scoring_pb2.Alert(
                id=f"a-{cid}",
                tenant_id=TENANT,
                customer_id=cid,
                kind="stage_change",
                severity="warning",
                reason="moved apart" if as_of is None else f"as of {as_of:%Y-%m-%d}",
                raised_at=_stamp(1_700_000_000),
            )
            for cid in customer_ids[:limit]
        ]
        return AlertsFound(alerts, None)

    async def customer_playbooks(
        self,
        tenant_id: str,
        customer_ids: Sequence[str],
        actions_limit: int,
        outlooks: Sequence[playbook_pb2.CustomerOutlook] | None = None,
    ) -> Any:
        self._tenant(tenant_id)
        self.calls["BatchGetCustomerPlaybooks"] += 1
        self.outlooks.append(None if outlooks is None else list(outlooks))
        customers = [
            playbook_pb2.CustomerPlaybook(
                customer_id=cid,
                playbook_version=3,
                applicable_standard_keys=["first-response", "answer-complaints"],
                obligations=[
                    playbook_pb2.Obligation(
                        customer_id=cid,
                        standard_key="first-response",
                        what=f"First response to ticket #{cid}",
                        due_at=_stamp(1_700_003_600),
                        opened_at=_stamp(1_700_000_000),
                        trigger_reference=cid,
                    )
                ],
                violations=[
                    playbook_pb2.Violation(
                        id=f"v-{cid}",
                        customer_id=cid,
                        standard_key="answer-complaints",
                        due_at=_stamp(1_699_000_000),
                        detected_at=_stamp(1_699_000_001),
                        interaction_ids=[f"{cid}-0"],
                        reason="no first response",
                    )
                ],
                next_best_actions=[
                    playbook_pb2.Action(
                        customer_id=cid, kind="obligation", title=f"Act {k}", urgency=1 - k / 10
                    )
                    for k in range(min(actions_limit, 5))
                ],
            )
            for cid in customer_ids
        ]
        standards = [
            playbook_pb2.Standard(key=key, title=key.title(), team="service", rule=rule)
            for key, rule in (
                ("first-response", "respond_within"),
                ("answer-complaints", "follow_up_after"),
            )
        ]
        return playbook_pb2.BatchGetCustomerPlaybooksResponse(
            customers=customers, standards=standards
        )

    async def worklist(self, tenant_id: str, team: str, employee: str, limit: int) -> list[Any]:
        self._tenant(tenant_id)
        self.calls["ListWorklist"] += 1
        return [
            playbook_pb2.Action(customer_id="c0001", kind="obligation", title=f"{team}/{employee}")
        ][:limit]

    async def record_interaction(self, tenant_id: str, interaction: dict[str, Any]) -> Any:
        self._tenant(tenant_id)
        self.calls["RecordInteraction"] += 1
        self.recorded = interaction
        if interaction["channel"] == "nowhere":
            return ingest_pb2.RecordInteractionResponse(
                status="rejected",
                errors=[ingest_pb2.FieldError(path="channel", message="unknown channel")],
            )
        return ingest_pb2.RecordInteractionResponse(status="accepted", id="i-1")

    async def acknowledge_alert(self, tenant_id: str, alert_id: str, who: str) -> bool:
        self._tenant(tenant_id)
        self.calls["AcknowledgeAlert"] += 1
        return alert_id == "a-c0001"

    async def publish_playbook(self, tenant_id: str, yaml: str) -> Any:
        self._tenant(tenant_id)
        self.calls["PublishPlaybook"] += 1
        if "within_hours: 0" in yaml:
            return playbook_pb2.PublishPlaybookResponse(
                problems=[
                    playbook_pb2.PlaybookProblem(
                        path="standards[0].rule.within_hours",
                        reason="line 13, column 21: must be positive",
                    )
                ]
            )
        return playbook_pb2.PublishPlaybookResponse(
            playbook=playbook_pb2.Playbook(tenant_id=tenant_id, name="Ours", version=2, yaml=yaml)
        )

    async def active_playbooks(self, tenant_ids: Sequence[str]) -> list[Any]:
        self.calls["BatchGetActivePlaybooks"] += 1
        return [
            playbook_pb2.Playbook(
                tenant_id=t,
                name="Default playbook",
                version=0,
                standards=[playbook_pb2.Standard(key="s1", title="Respond fast", rule="x")],
            )
            for t in tenant_ids
        ]


def _context(backends: FakeBackends, principal: Principal | None = None) -> GatewayContext:
    return GatewayContext(
        backends=backends,  # type: ignore[arg-type]
        principal=principal or Principal(TENANT, "partner-1", frozenset({SCOPE_GRAPH_READ})),
    )


SCHEMA = build_schema(max_depth=6, max_tokens=400, max_aliases=5, mask_errors=True)


async def _run(query: str, backends: FakeBackends, **variables: Any) -> Any:
    return await SCHEMA.execute(query, variable_values=variables, context_value=_context(backends))


async def test_a_page_of_customers_costs_one_rpc_per_backend_per_level() -> None:
    backends = FakeBackends()
    result = await _run(
        """{ customers(first: 100) { edges { node { id name
              relationship { value }
              obligations { what dueAt } violations { id interactionIds }
              nextBestActions(limit: 3) { title }
              playbook { version standards { key rule } obligations { what } }
              recentInteractions(limit: 3) { kind } } } pageInfo { hasNextPage endCursor } } }""",
        backends,
    )
    assert result.errors is None
    edges = result.data["customers"]["edges"]
    assert len(edges) == 100
    assert all(len(e["node"]["recentInteractions"]) == 3 for e in edges)
    first = edges[0]["node"]
    assert first["obligations"] == [
        {"what": "First response to ticket #c0000", "dueAt": "2023-11-14T23:13:20+00:00"}
    ]
    assert first["violations"] == [{"id": "v-c0000", "interactionIds": ["c0000-0"]}]
    assert [a["title"] for a in first["nextBestActions"]] == ["Act 0", "Act 1", "Act 2"]
    assert first["playbook"] == {
        "version": 3,
        "standards": [
            {"key": "first-response", "rule": "respond_within"},
            {"key": "answer-complaints", "rule": "follow_up_after"},
        ],
        "obligations": [{"what": "First response to ticket #c0000"}],
    }
    assert edges[0]["node"]["relationship"]["value"] == float(len("c0000"))
    assert result.data["customers"]["pageInfo"]["hasNextPage"] is True
    assert backends.calls == Counter(
        {
            "ListCustomers": 1,
            "BatchGetRelationships": 1,
            "BatchListRecentInteractions": 1,
            "BatchGetCustomerPlaybooks": 1,
        }
    )


async def test_the_playbook_gets_scorings_view_from_the_querys_own_relationship_call() -> None:
    """Relationship and playbook fields in one query share one scoring call, and the
    playbook is handed its result (so it does not ask scoring again); a query without
    relationship fields still costs scoring one call, made by the gateway."""
    backends = FakeBackends()
    result = await _run(
        """{ customers(first: 3) { edges { node {
              relationship { stage } nextBestActions(limit: 1) { title } } } } }""",
        backends,
    )
    assert result.errors is None
    assert backends.calls["BatchGetRelationships"] == 1
    [given] = backends.outlooks
    assert given is not None
    assert [(o.customer_id, o.relationship_type, o.stage, o.value) for o in given] == [
        ("c0000", "BFF", "integrating", 5.0),
        ("c0001", "BFF", "integrating", 5.0),
        ("c0002", "BFF", "integrating", 5.0),
    ]

    backends = FakeBackends()
    result = await _run(
        '{ customer(externalId: "cust-00001") { nextBestActions { title } } }', backends
    )
    assert result.errors is None
    assert backends.calls["BatchGetRelationships"] == 1
    assert [[o.customer_id for o in given or []] for given in backends.outlooks] == [["c0001"]]


CUSTOMER_360 = """query ($ref: String!, $n: Int) { customer(externalId: $ref) {
  name relationship { value } recentInteractions(limit: $n) { id kind }
  nextBestActions(limit: 3) { title } violations { reason } } }"""


async def test_a_customer_360_fetches_its_newest_interactions_with_the_customer() -> None:
    """The lookup brings the newest interactions the selection asks for: one ingest call,
    not two, and the same interactions the separate call gives."""
    backends = FakeBackends()
    result = await _run(CUSTOMER_360, backends, ref="cust-00007", n=20)
    assert result.errors is None
    assert backends.calls == Counter(
        {"LookupCustomers": 1, "BatchGetRelationships": 1, "BatchGetCustomerPlaybooks": 1}
    )
    assert backends.recent_asked == [20]
    separately = await backends.recent_interactions(TENANT, ["c0007"], 20)
    shown = result.data["customer"]["recentInteractions"]
    assert shown == [{"id": m.id, "kind": m.kind} for m in separately]
    assert len(shown) == 20
    # The field's default limit, and a customer without interactions (no second call).
    backends = FakeBackends()
    result = await _run(CUSTOMER_360, backends, ref="cust-00149")
    assert result.errors is None
    assert result.data["customer"]["recentInteractions"] == []
    assert backends.recent_asked == [10]
    assert backends.calls["BatchListRecentInteractions"] == 0


@pytest.mark.parametrize(
    "query",
    [
        '{ customer(id: "c0007") { recentInteractions(limit: 4) { id } } }',
        '{ node(id: "GID") { ... on Customer { recentInteractions(limit: 4) { id } } } }',
        '{ node(id: "GID") { ...Recent } } fragment Recent on Customer { '
        "recentInteractions(limit: 4) { id } }",
    ],
)
async def test_by_id_and_through_node_the_newest_interactions_come_along(query: str) -> None:
    backends = FakeBackends()
    result = await _run(query.replace("GID", to_global("Customer", "c0007")), backends)
    assert result.errors is None
    found = result.data.get("customer") or result.data["node"]
    assert [m["id"] for m in found["recentInteractions"]] == [f"c0007-{k}" for k in range(4)]
    assert backends.calls == Counter({"BatchGetCustomers": 1})
    assert backends.recent_asked == [4]


async def test_different_limits_for_one_customer_are_fetched_apart_as_asked() -> None:
    """Two aliases asking different numbers: the lookup brings none, and each list is
    exactly as long as asked (one call per number)."""
    backends = FakeBackends()
    result = await _run(
        """{ customer(externalId: "cust-00007") {
               a: recentInteractions(limit: 2) { id } b: recentInteractions(limit: 5) { id } } }""",
        backends,
    )
    assert result.errors is None
    assert [len(result.data["customer"][k]) for k in "ab"] == [2, 5]
    assert backends.recent_asked == [0]
    assert backends.calls == Counter({"LookupCustomers": 1, "BatchListRecentInteractions": 2})


async def test_with_scoring_down_the_playbook_is_asked_without_its_view() -> None:
    backends = FakeBackends(scoring_down=True)
    result = await _run(
        '{ customer(externalId: "cust-00001") { nextBestActions { title } } }', backends
    )
    assert result.errors is None
    assert result.data["customer"]["nextBestActions"]
    assert backends.outlooks == [None]


async def test_customer_by_external_id_batches_lookups_and_reuses_them() -> None:
    backends = FakeBackends()
    result = await _run(
        """{ a: customer(externalId: "cust-00001") { customerId relationship { value } }
             b: customer(externalId: "cust-00002") { id relationship { value } }
             c: customer(externalId: "nobody") { id } }""",
        backends,
    )
    assert result.errors is None
    assert result.data["a"]["customerId"] == "c0001"
    assert result.data["b"]["relationship"]["value"] == 5.0
    assert result.data["c"] is None
    assert backends.calls == Counter({"LookupCustomers": 1, "BatchGetRelationships": 1})


async def test_a_down_backend_leaves_the_rest_of_the_answer() -> None:
    backends = FakeBackends(scoring_down=True)
    result = await _run(
        '{ customer(externalId: "cust-00003") { name relationship { value } } }', backends
    )
    assert result.data == {"customer": {"name": "Customer 3", "relationship": None}}
    assert result.errors is not None
    assert len(result.errors) == 1
    assert result.errors[0].extensions == {
        "code": "UPSTREAM_UNAVAILABLE",
        "service": "scoring",
        "status": "UNAVAILABLE",
    }
    assert result.errors[0].path == ["customer", "relationship"]


async def test_a_down_playbook_or_scoring_leaves_every_other_field() -> None:
    """Lists fed by one service are nullable: a service that fails empties its own fields
    (with an error each), never the customer or the whole answer."""

    class PlaybookDown(FakeBackends):
        async def customer_playbooks(self, *args: Any) -> Any:
            raise UpstreamError("playbook", FakeRpcError())

        async def worklist(self, *args: Any) -> Any:
            raise UpstreamError("playbook", FakeRpcError())

    result = await _run(
        """{ customer(externalId: "cust-00003") { name nextBestActions { title }
               obligations { what } violations { reason } recentInteractions(limit: 1) { kind } }
             worklist { title } customers(first: 1) { edges { node { name } } } }""",
        PlaybookDown(),
    )
    assert result.data == {
        "customer": {
            "name": "Customer 3",
            "nextBestActions": None,
            "obligations": None,
            "violations": None,
            "recentInteractions": [{"kind": "ticket_opened"}],
        },
        "worklist": None,
        "customers": {"edges": [{"node": {"name": "Customer 0"}}]},
    }
    assert result.errors is not None
    assert {tuple(e.path or ()) for e in result.errors} == {
        ("customer", "nextBestActions"),
        ("customer", "obligations"),
        ("customer", "violations"),
        ("worklist",),
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ customers(first: 101) { edges { cursor } } }", "first must be 1..100"),
        ("{ customers(first: 0) { edges { cursor } } }", "first must be 1..100"),
        ('{ customer(id: "c1", externalId: "x") { id } }', "give exactly one of id and externalId"),
        ("{ customer { id } }", "give exactly one of id and externalId"),
        (
            '{ customer(id: "c0001") { recentInteractions(limit: 101) { id } } }',
            "limit must be 1..100",
        ),
    ],
)
async def test_bad_arguments_get_a_precise_error(query: str, message: str) -> None:
    result = await _run(query, FakeBackends())
    assert result.errors is not None
    assert result.errors[0].message == message
    assert result.errors[0].extensions == {"code": "BAD_INPUT"}


async def test_aliases_and_tokens_are_limited() -> None:
    deep = "{ customers { edges { node { relationship { value } } } } }"
    assert (await _run(deep, FakeBackends())).errors is None
    aliases = "{ " + " ".join(f'a{n}: customer(id: "c{n}") {{ id }}' for n in range(6)) + " }"
    result = await _run(aliases, FakeBackends())
    assert result.errors is not None
    assert "aliases" in result.errors[0].message
    tokens = "{ customers { edges { node { " + "id " * 400 + "} } } }"
    result = await _run(tokens, FakeBackends())
    assert result.errors is not None
    assert "token" in result.errors[0].message.lower()


async def test_depth_beyond_the_limit_is_refused() -> None:
    narrow = build_schema(max_depth=3, max_tokens=400, max_aliases=5, mask_errors=True)
    result = await narrow.execute(
        "{ customers { edges { node { relationship { value } } } } }",
        context_value=_context(FakeBackends()),
    )
    assert result.errors is not None
    assert "exceeds maximum operation depth" in result.errors[0].message


async def test_without_a_principal_every_data_field_is_refused() -> None:
    backends = FakeBackends()
    context = GatewayContext(
        backends=backends,  # type: ignore[arg-type]
        principal=None,
        auth_problem="invalid or revoked key",
    )
    result = await SCHEMA.execute(
        "{ customers { edges { cursor } } playbook { name } }", context_value=context
    )
    assert result.errors is not None
    codes = {e.extensions["code"] for e in result.errors if e.extensions}
    assert codes == {"UNAUTHENTICATED"}
    assert backends.calls == Counter()


async def test_unexpected_errors_are_masked_outside_development(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(FakeBackends):
        async def list_customers(self, *args: Any) -> Any:
            raise RuntimeError("password=hunter2 in a stack trace")

    result = await _run("{ customers { edges { cursor } } }", Broken())
    assert result.errors is not None
    assert result.errors[0].message == "Unexpected error."
    assert "hunter2" not in str(result.errors)
    # The fault is logged as an error, with its traceback; a client's refused argument is
    # not (it would let any client flood the error log).
    faults = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(faults) == 1
    assert faults[0].exc_info is not None
    caplog.clear()
    refused = await _run("{ atRisk(limit: 0) { name } }", FakeBackends())
    assert refused.errors is not None
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


async def test_the_playbook_is_read_for_the_callers_tenant() -> None:
    backends = FakeBackends()
    result = await _run("{ playbook { name version standards { key title } } }", backends)
    assert result.errors is None
    assert result.data["playbook"]["standards"] == [{"key": "s1", "title": "Respond fast"}]


def test_the_committed_sdl_is_the_schema() -> None:
    assert SDL_FILE.read_text() == sdl(), (
        "services/gateway/schema.graphql is stale: run `uv run gateway export-schema` "
        "and review the change"
    )


def test_upstream_error_is_a_graphql_error() -> None:
    assert issubclass(UpstreamError, GraphQLError)


async def test_a_page_with_relationships_and_alerts_costs_one_call_per_service() -> None:
    backends = FakeBackends()
    result = await _run(
        """{ customers(first: 100) { edges { node {
              relationship { value relationshipType stage comingApart }
              past: relationship(asOf: "2025-01-01T00:00:00Z") { value }
              alerts(openOnly: true) { kind reason }
        } } } }""",
        backends,
    )
    assert result.errors is None
    nodes = [e["node"] for e in result.data["customers"]["edges"]]
    assert len(nodes) == 100
    assert nodes[0]["relationship"] == {
        "value": 5.0,
        "relationshipType": "BFF",
        "stage": "integrating",
        "comingApart": False,
    }
    assert nodes[0]["past"] == {"value": -1.0}
    assert nodes[0]["alerts"] == [{"kind": "stage_change", "reason": "moved apart"}]
    assert backends.calls["BatchGetRelationships"] == 2  # one per asOf
    assert backends.calls["ListAlerts"] == 1


async def test_interaction_pages_and_employees_cost_one_call_per_page_of_customers() -> None:
    backends = FakeBackends()
    result = await _run(
        """{ customers(first: 100) { edges { node {
              interactions(first: 2) { edges { cursor node { id channel } }
                                       pageInfo { hasNextPage endCursor } }
              service: interactions(first: 2, channels: ["service"]) { edges { node { id } } }
              employees(limit: 1) { employee interactionCount }
        } } } }""",
        backends,
    )
    assert result.errors is None
    first = result.data["customers"]["edges"][0]["node"]
    assert first["interactions"] == {
        "edges": [
            {"cursor": "1", "node": {"id": "c0000-0", "channel": "sales"}},
            {"cursor": "2", "node": {"id": "c0000-1", "channel": "service"}},
        ],
        "pageInfo": {"hasNextPage": True, "endCursor": "2"},
    }
    assert first["service"] == {"edges": [{"node": {"id": "c0000-1"}}]}
    assert first["employees"] == [{"employee": "ann", "interactionCount": 7}]
    # 200 pages of interactions and 100 employee lists: one call each.
    assert backends.calls["BatchListInteractions"] == 1
    assert backends.calls["BatchListEmployees"] == 1

    following = await _run(
        '{ customer(id: "c0000") { interactions(first: 2, after: "2") { edges { node { id } } '
        "pageInfo { hasNextPage } } } }",
        backends,
    )
    assert following.data["customer"]["interactions"] == {
        "edges": [{"node": {"id": "c0000-2"}}],
        "pageInfo": {"hasNextPage": False},
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("first: 0", "first must be 1..100"),
        ('from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z"', "from must be before to"),
        ('from: "2026-01-02T00:00:00"', "from: give a time zone"),
        ("kinds: [" + ", ".join(['"call"'] * 21) + "]", "kinds: at most 20 values"),
    ],
)
async def test_bad_interaction_filters_get_a_precise_error(arguments: str, message: str) -> None:
    result = await _run(
        f'{{ customer(id: "c0000") {{ interactions({arguments}) {{ edges {{ cursor }} }} }} }}',
        FakeBackends(),
    )
    assert result.errors is not None
    assert message in result.errors[0].message


async def test_customers_filtered_searched_and_ordered_through_scoring() -> None:
    backends = FakeBackends()
    result = await _run(
        """{ customers(first: 2, filter: {search: "customer 1", comingApart: false,
                                          stages: ["bonding", "avoiding"], minRisk: 0.2},
                       orderBy: {field: REVENUE}) {
              edges { cursor node { name relationship { revenue stage } } }
              pageInfo { hasNextPage endCursor } } }""",
        backends,
    )
    assert result.errors is None
    listing = backends.last_listing
    assert listing.order_by == "revenue"
    assert not listing.ascending
    assert list(listing.stages) == ["bonding"]  # avoiding is in the coming-apart half
    assert listing.min_risk == pytest.approx(0.2)
    # "customer 1" matches Customer 1, 10..19 and 100..149: scoring sees only those.
    assert len(listing.customer_ids) == 61
    assert result.data["customers"] == {
        "edges": [
            {
                "cursor": "1",
                "node": {
                    "name": "Customer 149",
                    "relationship": {"revenue": 1490.0, "stage": "bonding"},
                },
            },
            {
                "cursor": "2",
                "node": {
                    "name": "Customer 148",
                    "relationship": {"revenue": 1480.0, "stage": "bonding"},
                },
            },
        ],
        "pageInfo": {"hasNextPage": True, "endCursor": "2"},
    }
    # The search primed the customers and the listing the relationships: no further calls.
    assert backends.calls["BatchGetCustomers"] == 0
    assert backends.calls["BatchGetRelationships"] == 0

    plain = await _run(
        '{ customers(first: 5, filter: {search: "Customer 14"}) { edges { node { name } } } }',
        backends,
    )
    assert [e["node"]["name"] for e in plain.data["customers"]["edges"]] == [
        "Customer 14",
        *[f"Customer {n}" for n in range(140, 144)],
    ]
    assert backends.calls["ListRelationships"] == 1  # a search alone stays in ingest


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("filter: {minRisk: 1.5}", "minRisk must be 0..1"),
        (
            'filter: {search: "customer", stages: ["bonding"]}',
            "search matches more than 500 customers",
        ),
        ('filter: {search: "' + "x" * 201 + '"}', "search: at most 200 characters"),
    ],
)
async def test_bad_customer_filters_get_a_precise_error(arguments: str, message: str) -> None:
    backends = FakeBackends(customers=600)
    result = await _run(f"{{ customers({arguments}) {{ edges {{ cursor }} }} }}", backends)
    assert result.errors is not None
    assert message in result.errors[0].message


async def test_configuring_relationship_types_answers_with_typed_results() -> None:
    backends = FakeBackends()
    mutation = """mutation ($types: [RelationshipTypeInput!]!) {
      configureRelationshipTypes(types: $types) {
        __typename
        ... on RelationshipTypesConfigured { types { name conditions { feature op value } } }
        ... on InvalidRelationshipTypes { problems { path reason } }
        ... on NotAllowed { message }
      } }"""
    whale = {"name": "Whale", "conditions": [{"feature": "revenue", "op": "at_least", "value": 9}]}
    reader = await _run(mutation, backends, types=[whale])
    assert reader.data["configureRelationshipTypes"] == {
        "__typename": "NotAllowed",
        "message": "configuring types needs the admin scope",
    }
    admin = Principal(TENANT, "partner-1", frozenset({SCOPE_GRAPH_READ, SCOPE_ADMIN}))

    async def as_admin(types: list[dict[str, Any]]) -> Any:
        result = await SCHEMA.execute(
            mutation, variable_values={"types": types}, context_value=_context(backends, admin)
        )
        assert result.errors is None, result.errors
        return result.data["configureRelationshipTypes"]

    assert await as_admin([whale, {"name": "Rest"}]) == {
        "__typename": "RelationshipTypesConfigured",
        "types": [
            {
                "name": "Whale",
                "conditions": [{"feature": "revenue", "op": "at_least", "value": 9.0}],
            },
            {"name": "Rest", "conditions": []},
        ],
    }
    assert await as_admin([{"name": ""}]) == {
        "__typename": "InvalidRelationshipTypes",
        "problems": [{"path": "types[0].name", "reason": "a name"}],
    }
    too_many = await as_admin([{"name": f"T{n}"} for n in range(11)])
    assert too_many["__typename"] == "InvalidRelationshipTypes"
    assert (
        backends.calls["SetRelationshipTypes"] == 2
    )  # the reader and the oversized never reach it
    listed = await _run("{ relationshipTypes { name conditions { op } } }", backends)
    assert listed.data == {
        "relationshipTypes": [{"name": "Whale", "conditions": [{"op": "at_least"}]}]
    }


async def test_the_worklist_and_bad_limits() -> None:
    backends = FakeBackends()
    result = await _run('{ worklist(team: "service") { title customerId } }', backends)
    assert result.errors is None
    assert result.data["worklist"] == [{"title": "service/", "customerId": "c0001"}]
    bad = await _run(
        '{ worklist(limit: 101) { title } customer(externalId: "cust-00001") '
        "{ nextBestActions(limit: 51) { title } } }",
        backends,
    )
    assert bad.errors is not None
    assert {e.extensions["code"] for e in bad.errors} == {"BAD_INPUT"}


PUBLISH = """mutation ($yaml: String!) { publishPlaybook(yaml: $yaml) {
  __typename
  ... on Playbook { name version yaml }
  ... on InvalidPlaybook { problems { path reason } }
  ... on NotAllowed { message } } }"""


async def test_publishing_a_playbook_answers_with_typed_results() -> None:
    backends = FakeBackends()
    admin = _context(backends, Principal(TENANT, "console", frozenset({SCOPE_GRAPH_READ, "admin"})))
    done = await SCHEMA.execute(
        PUBLISH, variable_values={"yaml": "name: Ours"}, context_value=admin
    )
    assert done.errors is None
    assert done.data["publishPlaybook"] == {
        "__typename": "Playbook",
        "name": "Ours",
        "version": 2,
        "yaml": "name: Ours",
    }
    refused = await SCHEMA.execute(
        PUBLISH, variable_values={"yaml": "within_hours: 0"}, context_value=admin
    )
    assert refused.data["publishPlaybook"] == {
        "__typename": "InvalidPlaybook",
        "problems": [
            {
                "path": "standards[0].rule.within_hours",
                "reason": "line 13, column 21: must be positive",
            }
        ],
    }
    reader = await _run(PUBLISH, backends, yaml="name: Ours")
    assert reader.data["publishPlaybook"]["__typename"] == "NotAllowed"
    assert backends.calls["PublishPlaybook"] == 2


RECORD = """mutation ($i: InteractionInput!) { recordInteraction(interaction: $i) {
  __typename
  ... on InteractionRecorded { interactionId duplicate }
  ... on InvalidInteraction { problems { path message } }
  ... on NotAllowed { message } } }"""
ACK = """mutation ($id: ID!) { acknowledgeAlert(alertId: $id) {
  __typename ... on AlertAcknowledged { alertId } ... on NotFound { message } } }"""


async def test_recording_and_acknowledging_answer_with_typed_results() -> None:
    backends = FakeBackends()
    writer = _context(
        backends, Principal(TENANT, "console", frozenset({SCOPE_GRAPH_READ, "graph:write"}))
    )
    note = {
        "externalId": "cust-00001",
        "occurredAt": "2026-11-20T10:00:00+01:00",
        "channel": "sales",
        "kind": "call",
        "direction": "outbound",
        "text": "Discussed the renewal",
        "idempotencyKey": "note-7",
    }
    done = await SCHEMA.execute(RECORD, variable_values={"i": note}, context_value=writer)
    assert done.errors is None
    assert done.data["recordInteraction"] == {
        "__typename": "InteractionRecorded",
        "interactionId": "i-1",
        "duplicate": False,
    }
    assert backends.recorded == {
        "customer": {"external_id": "cust-00001"},
        "occurred_at": "2026-11-20T10:00:00+01:00",
        "channel": "sales",
        "kind": "call",
        "direction": "outbound",
        "text": "Discussed the renewal",
        "source": "graph",
        "source_id": "note-7",
    }
    bad = await SCHEMA.execute(
        RECORD, variable_values={"i": {**note, "channel": "nowhere"}}, context_value=writer
    )
    assert bad.data["recordInteraction"]["problems"] == [
        {"path": "channel", "message": "unknown channel"}
    ]
    reader = await _run(RECORD, backends, i=note)
    assert reader.data["recordInteraction"]["__typename"] == "NotAllowed"
    acked = await SCHEMA.execute(ACK, variable_values={"id": "a-c0001"}, context_value=writer)
    assert acked.data["acknowledgeAlert"] == {
        "__typename": "AlertAcknowledged",
        "alertId": "a-c0001",
    }
    missing = await SCHEMA.execute(ACK, variable_values={"id": "nope"}, context_value=writer)
    assert missing.data["acknowledgeAlert"]["__typename"] == "NotFound"
    assert backends.calls["RecordInteraction"] == 2


async def test_global_ids_fetch_customers_again_through_node() -> None:
    backends = FakeBackends()
    found = await _run('{ customer(externalId: "cust-00007") { id customerId name } }', backends)
    customer = found.data["customer"]
    assert customer["customerId"] == "c0007"
    assert customer["id"] != "c0007"
    again = await _run(
        "query ($id: ID!) { node(id: $id) { id ... on Customer { name } } "
        "customer(id: $id) { name } }",
        backends,
        id=customer["id"],
    )
    assert again.data == {
        "node": {"id": customer["id"], "name": "Customer 7"},
        "customer": {"name": "Customer 7"},
    }
    assert backends.calls["BatchGetCustomers"] == 1  # node and customer share one load
    missing = await _run('{ node(id: "Q3VzdG9tZXI6bm9ib2R5") { id } }', backends)
    assert missing.data == {"node": None}
    # Not base64, and not ASCII (a leaked ValueError before; found by schemathesis).
    for malformed in ("%%%", "\\u0080", "é"):
        bad = await _run(f'{{ node(id: "{malformed}") {{ id }} }}', backends)
        assert bad.errors is not None, malformed
        assert bad.errors[0].extensions["code"] == "BAD_INPUT", malformed


async def test_a_query_above_the_cost_limit_is_refused_before_it_runs() -> None:
    from graphql import OperationDefinitionNode, parse

    from gateway.cost import query_cost

    def cost(query: str) -> int:
        document = parse(query)
        [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        schema = SCHEMA._schema
        root = schema.query_type
        return query_cost(operation.selection_set, root, schema, {})

    assert cost("{ customers(first: 100) { edges { node { name } } } }") == 1 + 100 * (1 + 2)
    page = "{ customers(first: 100) { edges { node { recentInteractions(limit: 20) { kind } } } } }"
    assert cost(page) == 1 + 100 * (1 + 1 + (1 + 20 * 1))
    assert cost("query ($n: Int!) { atRisk(limit: $n) { name } }") == 1 + 100 * 1
    assert cost('{ customer(externalId: "x") { obligations { what } } }') == 1 + 1 + 10
    tight = build_schema(
        max_depth=10, max_tokens=2000, max_aliases=30, mask_errors=True, max_cost=500
    )
    backends = FakeBackends()
    refused = await tight.execute(page, context_value=_context(backends))
    assert refused.errors is not None
    assert refused.errors[0].extensions == {"code": "QUERY_TOO_COSTLY", "cost": 2301}
    assert backends.calls == Counter()  # nothing ran
    # Lists within lists multiply past what JSON holds: the cost reported is capped, and the
    # answer can be written (an integer beyond 64 bits was a 500; found by schemathesis).
    most = 2**31 - 1
    huge = (
        f"{{ customers(first: {most}) {{ edges {{ node {{ interactions(first: {most}) "
        f"{{ edges {{ node {{ id }} }} }} recentInteractions(limit: {most}) {{ id }} "
        f"alerts(limit: {most}) {{ id }} }} }} }} }}"
    )
    too_much = await tight.execute(huge, context_value=_context(backends))
    assert too_much.errors is not None
    [error] = [e for e in too_much.errors if e.extensions]
    assert error.extensions == {"code": "QUERY_TOO_COSTLY", "cost": 2**53 - 1}
    assert error.message.startswith(f"query cost {2**53 - 1}+ is above the limit of 500")
    assert orjson.dumps(error.formatted)
    fine = await tight.execute(
        "{ customers(first: 5) { edges { node { name } } } }", context_value=_context(backends)
    )
    assert fine.errors is None


async def test_the_graph_is_a_federation_subgraph_with_customers_as_entities() -> None:
    backends = FakeBackends()
    sdl = (await _run("{ _service { sdl } }", backends)).data["_service"]["sdl"]
    assert 'type Customer implements Node @key(fields: "id")' in sdl
    found = await _run('{ customer(externalId: "cust-00003") { id } }', backends)
    key = found.data["customer"]["id"]
    entities = await _run(
        "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { name } } }",
        backends,
        r=[
            {"__typename": "Customer", "id": key},
            {"__typename": "Customer", "id": "Q3VzdG9tZXI6eA"},
        ],
    )
    assert entities.errors is None
    assert entities.data["_entities"] == [{"name": "Customer 3"}, None]


async def test_a_repeated_query_is_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The validation cache hits: its rules are built once, not per request."""
    import strawberry.schema.schema as strawberry_schema

    calls = []
    original = strawberry_schema.validate_document

    def counting(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(strawberry_schema, "validate_document", counting)
    from strawberry.extensions import validation_cache

    validation_cache._get_validate_cache.cache_clear()
    schema = build_schema(max_depth=6, max_tokens=400, max_aliases=5, mask_errors=True)
    query = "{ customers(first: 3) { edges { node { name } } } }"
    for _ in range(3):
        result = await schema.execute(query, context_value=_context(FakeBackends()))
        assert result.errors is None
    assert len(calls) == 1
    # The limits still hold on a cached document's neighbours.
    deep = await schema.execute(
        "{ customers { edges { node { relationship { explanation { drivers { reason } } } } } } }",
        context_value=_context(FakeBackends()),
    )
    assert deep.errors is not None
    validation_cache._get_validate_cache.cache_clear()


async def test_the_riskiest_as_of_a_moment_come_with_their_relationship_then() -> None:
    """`atRisk(asOf:)` asks scoring for the ranking then; each customer's relationship at
    that moment is the one ranked (no second call), and at any other moment it is read."""
    backends = FakeBackends()
    then = "2026-03-01T00:00:00Z"
    result = await _run(
        """query ($then: DateTime) { atRisk(limit: 2, asOf: $then) {
               customerId relationship(asOf: $then) { value } now: relationship { value } } }""",
        backends,
        then=then,
    )
    assert result.errors is None, result.errors
    assert result.data["atRisk"] == [
        {"customerId": "c0002", "relationship": {"value": 7.0}, "now": {"value": 5.0}},
        {"customerId": "c0001", "relationship": {"value": 7.0}, "now": {"value": 5.0}},
    ]
    assert backends.at_risk_asked.isoformat() == "2026-03-01T00:00:00+00:00"
    assert backends.calls["BatchGetRelationships"] == 1  # for "now" only
    # Now: the relationship now comes with the ranking.
    backends = FakeBackends()
    result = await _run("{ atRisk(limit: 1) { customerId relationship { value } } }", backends)
    assert result.data["atRisk"] == [{"customerId": "c0002", "relationship": {"value": 8.0}}]
    assert backends.at_risk_asked is None
    assert backends.calls["BatchGetRelationships"] == 0
    # A moment not yet past: scoring ranks now, and the relationship then is read.
    backends = FakeBackends()
    result = await _run(
        """query ($then: DateTime) { atRisk(limit: 1, asOf: $then) {
               customerId relationship(asOf: $then) { value } now: relationship { value } } }""",
        backends,
        then="2999-01-01T00:00:00Z",
    )
    # (The fake's ranking has value 7 whenever a moment is asked.)
    assert result.data["atRisk"] == [
        {"customerId": "c0002", "relationship": {"value": -1.0}, "now": {"value": 7.0}}
    ]
    assert backends.calls["BatchGetRelationships"] == 1


async def test_alerts_as_of_a_moment_are_asked_for_then() -> None:
    backends = FakeBackends()
    result = await _run('{ alerts(asOf: "2026-03-01T00:00:00Z") { id } }', backends)
    assert result.errors is None, result.errors
    assert backends.alerts_asked.isoformat() == "2026-03-01T00:00:00+00:00"
    # A moment without its zone is refused, not guessed.
    for field in ("alerts", "atRisk"):
        refused = await _run(
            f'{{ {field}(asOf: "2026-03-01T00:00:00") {{ __typename }} }}', backends
        )
        assert refused.errors is not None
        assert refused.errors[0].message == "asOf: give a time zone"
        assert refused.errors[0].extensions == {"code": "BAD_INPUT"}


async def test_a_pages_customers_alerts_as_of_a_moment_cost_one_call_per_moment() -> None:
    """`Customer.alerts(asOf:)` is asked of the backends once for all the page's customers
    at the same (asOf, openOnly), whatever zone the moment is written in and whatever each
    field's limit; now is a call of its own."""
    backends = FakeBackends()
    result = await _run(
        """{ customers(first: 100) { edges { node {
              alerts(asOf: "2026-03-01T00:00:00Z", openOnly: true) { reason }
              again: alerts(asOf: "2026-03-01T01:00:00+01:00", openOnly: true, limit: 1) {
                reason }
              now: alerts(openOnly: true) { reason }
        } } } }""",
        backends,
    )
    assert result.errors is None, result.errors
    nodes = [e["node"] for e in result.data["customers"]["edges"]]
    assert len(nodes) == 100
    assert nodes[0] == {
        "alerts": [{"reason": "as of 2026-03-01"}],
        "again": [{"reason": "as of 2026-03-01"}],
        "now": [{"reason": "moved apart"}],
    }
    assert sorted(backends.alerts_calls, key=lambda c: c[2] is not None) == [
        (100, True, None),
        (100, True, datetime(2026, 3, 1, tzinfo=UTC)),
    ]
    refused = await _run(
        '{ customers(first: 1) { edges { node { alerts(asOf: "2026-03-01T00:00:00") { id } } } } }',
        backends,
    )
    assert refused.errors is not None
    assert refused.errors[0].message == "asOf: give a time zone"
    assert refused.errors[0].extensions == {"code": "BAD_INPUT"}
