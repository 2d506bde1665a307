"""The gateway's GraphQL executor: graphql-core's, with a short way through plain leaves.

Nearly every field of a customer-360 (about 230 of its 250: an interaction's ten scalars,
twenty times over) is a plain leaf: a Strawberry field without a resolver that returns a
scalar or an enum. graphql-core resolves each one the long way, the same as a field that
calls a service: a `Path` and a `GraphQLResolveInfo` built, the resolver called through
Strawberry's wrapper, the value completed through `complete_value`'s dispatch on its type,
checked for being awaitable twice. That was most of the gateway's CPU a query
(`bench/gateway_360.py --profile`).

`LeafExecutor` reads such a field's attribute and coerces it in place, and sends the
object's other fields the long way. It answers exactly what the long way answers, and leaves
every case the long way treats specially to the long way: a null where the type forbids one
and a value the scalar cannot represent (both become the usual located error there), an
awaitable, and any request with resolve middleware (a schema extension that wraps every
field), which must see every field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from graphql import GraphQLNonNull, GraphQLObjectType, GraphQLSchema, is_leaf_type
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# A plain leaf: the attribute it reads, its type's output coercion (as graphql-core's
# `complete_leaf_value` applies it), and whether it may be null.
Leaf = tuple[str, Callable[[Any], Any], bool]

_LONG_WAY: Final = object()


def plain_leaves(schema: GraphQLSchema) -> dict[GraphQLObjectType, dict[str, Leaf]]:
    """Every object type's plain leaves: Strawberry fields with no resolver and no field
    extensions (Strawberry's own "basic field"), read with `getattr`, whose type is a scalar
    or an enum (not a list)."""
    found: dict[GraphQLObjectType, dict[str, Leaf]] = {}
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        leaves: dict[str, Leaf] = {}
        for name, field in named.fields.items():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if (
                not isinstance(definition, StrawberryField)
                or not definition.is_basic_field
                or definition.default_resolver is not getattr
                or field.args
            ):
                continue
            nullable = not isinstance(field.type, GraphQLNonNull)
            leaf_type = field.type if nullable else field.type.of_type  # type: ignore[union-attr]
            if is_leaf_type(leaf_type):
                leaves[name] = (definition.python_name, leaf_type.coerce_output_value, nullable)
        if leaves:
            found[named] = leaves
    return found


def _without_middleware(context: StrawberryGraphQLCoreExecutionContext) -> bool:
    def probe() -> None: ...

    manager = context.middleware_manager
    return manager is None or manager.get_field_resolver(probe) is probe


class LeafExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor with plain leaves read in place (see the module's docstring)."""

    # Set once per schema by `leaf_executor`.
    leaves: dict[GraphQLObjectType, dict[str, Leaf]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._leaves = type(self).leaves if _without_middleware(self) else {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        leaves = self._leaves.get(parent_type)
        if leaves is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        rest: GroupedFieldSet = {}
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            leaf = leaves.get(node.name.value)
            value = _LONG_WAY if leaf is None or node.arguments else self._read(leaf, source_value)
            if value is _LONG_WAY:
                rest[response_name] = details
            else:
                results[response_name] = value
        if not rest:
            return results
        others = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if isinstance(others, dict):
            return _ordered(grouped_field_set, results, others)
        return self._in_order(grouped_field_set, results, others)

    def _read(self, leaf: Leaf, source: Any) -> Any:
        attribute, coerce, nullable = leaf
        try:
            value = getattr(source, attribute)
            if value is None:
                return None if nullable else _LONG_WAY
            if self.is_awaitable(value):
                return _LONG_WAY
            coerced = coerce(value)
        except Exception:
            return _LONG_WAY  # the long way reads it again and reports it where it belongs
        return _LONG_WAY if coerced is None or coerced is Undefined else coerced

    async def _in_order(
        self,
        grouped_field_set: GroupedFieldSet,
        results: dict[str, Any],
        others: Awaitable[dict[str, Any]],
    ) -> dict[str, Any]:
        return _ordered(grouped_field_set, results, await others)


def _ordered(
    grouped_field_set: GroupedFieldSet, results: dict[str, Any], others: dict[str, Any]
) -> dict[str, Any]:
    """The leaves and the other fields in the query's order (a field the long way left out,
    as graphql-core leaves out an unknown field, stays out)."""
    merged = results | others
    return {name: merged[name] for name in grouped_field_set if name in merged}


def leaf_executor(schema: GraphQLSchema) -> type[LeafExecutor]:
    """An executor class for one schema, with that schema's plain leaves."""
    return type("SchemaLeafExecutor", (LeafExecutor,), {"leaves": plain_leaves(schema)})
