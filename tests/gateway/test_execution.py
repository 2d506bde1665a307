"""The gateway's executor reads plain leaves in place and answers exactly as graphql-core's
own execution does: the same data in the same order, the same errors at the same paths."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from graphql import GraphQLResolveInfo
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gateway.execution import leaf_executor, plain_leaves
from gateway.schema import build_schema
from tests.gateway.test_schema import FakeBackends, _context

# A customer-360 as a front end might write it: fragments, aliases and __typename among the
# plain leaves and the resolved fields.
CUSTOMER_360 = """query ($ref: String!) { customer(externalId: $ref) {
  __typename id name ref: externalId interactionCount lastSeenAt
  relationship { value stage risk riskReasons kind: relationshipType }
  recentInteractions(limit: 20) { ...touch __typename id }
  nextBestActions(limit: 3) { kind title reason urgency dueAt }
  violations { id standardTitle team reason dueAt detectedAt }
} }
fragment touch on Interaction {
  id occurredAt channel kind direction sentiment amount amountType employee text
}"""


def _long_way(schema: strawberry.Schema) -> strawberry.Schema:
    schema.execution_context_class = StrawberryGraphQLCoreExecutionContext
    return schema


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    def build() -> strawberry.Schema:
        return build_schema(max_depth=10, max_tokens=2000, max_aliases=30, mask_errors=True)

    return build(), _long_way(build())


async def test_a_customer_360_is_answered_as_graphql_core_answers_it() -> None:
    short, long = _schemas()
    backends = FakeBackends()
    answers: dict[str, Any] = {}
    for ref in ("cust-00003", "cust-00149", "cust-99999"):
        ours = await short.execute(
            CUSTOMER_360, variable_values={"ref": ref}, context_value=_context(backends)
        )
        theirs = await long.execute(
            CUSTOMER_360, variable_values={"ref": ref}, context_value=_context(backends)
        )
        assert ours.errors == theirs.errors
        assert ours.data == theirs.data
        # The same keys in the same order, at every level.
        assert repr(ours.data) == repr(theirs.data)
        answers[ref] = ours.data
    whole = answers["cust-00003"]["customer"]
    assert len(whole["recentInteractions"]) == 20
    assert whole["recentInteractions"][0]["__typename"] == "Interaction"
    assert whole["relationship"] is not None
    assert answers["cust-00149"]["customer"]["recentInteractions"] == []  # it has none
    assert answers["cust-99999"] == {"customer": None}  # no such customer


def test_the_customer_360s_leaves_are_found_and_resolved_fields_are_not() -> None:
    schema = build_schema(max_depth=10, max_tokens=2000, max_aliases=30, mask_errors=True)
    by_name = {t.name: fields for t, fields in plain_leaves(schema._schema).items()}
    interaction = set(by_name["Interaction"])
    assert {"id", "occurredAt", "channel", "kind", "amount", "text"} <= interaction
    assert "relationship" not in by_name.get("Customer", {})  # a resolver: the long way
    assert "recentInteractions" not in by_name.get("Customer", {})
    assert "Query" not in by_name


class Mood(enum.Enum):
    GOOD = "good"


@strawberry.type
class Thing:
    name: str
    note: str | None
    mood: Mood
    count: int

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    async def later(self) -> str:
        return "later"


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing | None]:
        return [
            Thing(name="a", note=None, mood=Mood.GOOD, count=1),
            # Broken on purpose: a null name, a mood that is no Mood, a count not an int.
            Thing(name=None, note="n", mood="sad", count="many"),  # type: ignore[arg-type]
        ]


QUERY = "{ things { count later name shout note mood n2: name } }"


def _pair(*extensions: Any) -> tuple[strawberry.Schema, strawberry.Schema]:
    def build() -> strawberry.Schema:
        return strawberry.Schema(query=Query, extensions=list(extensions))

    short = build()
    short.execution_context_class = leaf_executor(short._schema)
    return short, _long_way(build())


async def test_broken_values_get_graphql_cores_own_errors_at_their_paths() -> None:
    short, long = _pair()
    ours, theirs = await short.execute(QUERY), await long.execute(QUERY)
    assert ours.errors is not None
    assert theirs.errors is not None
    assert [(e.message, e.path) for e in ours.errors] == [
        (e.message, e.path) for e in theirs.errors
    ]
    assert ours.data == theirs.data
    # The first thing is whole, its fields in the query's order whatever way each went;
    # the broken one is null, its non-null fields having failed.
    assert ours.data is not None
    assert ours.data["things"][1] is None
    assert [e.path for e in ours.errors] == [["things", 1, "count"]]  # the first to fail
    assert list(ours.data["things"][0]) == ["count", "later", "name", "shout", "note", "mood", "n2"]
    assert ours.data["things"][0]["mood"] == "GOOD"


@strawberry.type
class Loose:
    count: int | None
    mood: Mood | None
    name: str


@strawberry.type
class LooseQuery:
    @strawberry.field
    def loose(self) -> Loose:
        return Loose(count="many", mood="sad", name="x")  # type: ignore[arg-type]


async def test_a_nullable_leaf_that_cannot_be_represented_is_null_with_its_error() -> None:
    short = strawberry.Schema(query=LooseQuery)
    short.execution_context_class = leaf_executor(short._schema)
    long = _long_way(strawberry.Schema(query=LooseQuery))
    query = "{ loose { count mood name } }"
    ours, theirs = await short.execute(query), await long.execute(query)
    assert ours.data == theirs.data == {"loose": {"count": None, "mood": None, "name": "x"}}
    assert [(e.message, e.path) for e in ours.errors or []] == [
        (e.message, e.path) for e in theirs.errors or []
    ]
    assert [e.path for e in ours.errors or []] == [["loose", "count"], ["loose", "mood"]]


async def test_resolve_middleware_sees_every_field() -> None:
    seen: list[str] = []

    class Watching(SchemaExtension):
        def resolve(
            self, _next: Any, root: Any, info: GraphQLResolveInfo, *args: Any, **kwargs: Any
        ) -> Any:
            seen.append(f"{info.parent_type.name}.{info.field_name}")
            return _next(root, info, *args, **kwargs)

    short, long = _pair(Watching)
    await long.execute("{ things { name count } }")
    theirs = list(seen)
    seen.clear()
    await short.execute("{ things { name count } }")
    assert seen == theirs
    assert seen[:3] == ["Query.things", "Thing.name", "Thing.count"]


@pytest.mark.parametrize("query", ["{ things { name } }", "{ things { __typename name } }"])
async def test_a_query_of_leaves_only_matches_too(query: str) -> None:
    short, long = _pair()
    ours, theirs = await short.execute(query), await long.execute(query)
    assert ours.data == theirs.data
    assert repr(ours.data) == repr(theirs.data)
    assert [e.message for e in ours.errors or []] == [e.message for e in theirs.errors or []]
