"""The query cost limit: an estimate of the work a query asks for, refused before it runs
when it is too high.

Each field costs 1; a field that returns a list multiplies what is selected under it by the
number of items asked (`first`, `limit` or `points` when given as a number, the field's
maximum when given as a variable, 10 otherwise). So `customers(first: 100) { edges { node {
recentInteractions(limit: 20) { kind } } } }` costs about 100 x 20 (a connection's `edges`
are the page its `first` already counted). Fragments count where
they are spread.
"""

from __future__ import annotations

from typing import Any, Final

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
)

from relint.values import MAX_EXACT_INTEGER

SIZE_ARGUMENTS: Final = ("first", "limit", "points")
# What a list costs when the query does not say how many: a variable may ask the maximum.
UNSAID_ITEMS: Final = 10
VARIABLE_ITEMS: Final = 100


def query_cost(
    selection_set: SelectionSetNode,
    parent: GraphQLObjectType | Any,
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
    inherited: int | None = None,
) -> int:
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(selection, parent, schema, fragments, seen, inherited)
        elif isinstance(selection, InlineFragmentNode):
            on = (
                schema.get_type(selection.type_condition.name.value)
                if selection.type_condition
                else parent
            )
            total += query_cost(selection.selection_set, on, schema, fragments, seen, inherited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:  # cycles are refused by validation anyway
                continue
            on = schema.get_type(fragment.type_condition.name.value)
            total += query_cost(
                fragment.selection_set, on, schema, fragments, seen | {name}, inherited
            )
    return total


def _field_cost(
    node: FieldNode,
    parent: Any,
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str],
    inherited: int | None = None,
) -> int:
    fields = getattr(parent, "fields", {})
    definition = fields.get(node.name.value)
    if definition is None or node.selection_set is None:
        return 1
    named = get_named_type(definition.type)
    nullable = (
        definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
    )
    size = _size(node)
    passed = None
    if node.name.value == "edges":  # a connection's page: its size was counted above it
        items = 1
    elif isinstance(nullable, GraphQLList):
        items = size or inherited or UNSAID_ITEMS
    elif "edges" in getattr(named, "fields", {}):  # a connection: `first` is its page
        items = size or 1
    else:  # an object sized by an argument (portfolio(limit:)): the lists under it are
        items, passed = 1, size
    inner = query_cost(node.selection_set, named, schema, fragments, seen, passed)
    return 1 + items * inner


def _size(node: FieldNode) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value in SIZE_ARGUMENTS:
            if isinstance(argument.value, IntValueNode):
                return max(int(argument.value.value), 1)
            if isinstance(argument.value, VariableNode):
                return VARIABLE_ITEMS
    return None


def cost_limit_rule(max_cost: int) -> type[ValidationRule]:
    """A validation rule refusing operations that cost more than `max_cost`."""

    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            self.fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            schema = self.context.schema
            root = schema.get_root_type(node.operation)
            cost = query_cost(node.selection_set, root, schema, self.fragments)
            if cost > max_cost:
                # Nested lists multiply: a cost beyond the largest integer JSON readers hold
                # exactly (and the answer's encoder can write) is reported as that.
                shown = min(cost, MAX_EXACT_INTEGER)
                self.report_error(
                    GraphQLError(
                        f"query cost {shown}{'+' if cost > shown else ''} is above the limit "
                        f"of {max_cost}: ask for fewer items (first, limit) or fewer fields",
                        node,
                        extensions={"code": "QUERY_TOO_COSTLY", "cost": shown},
                    )
                )

    return CostLimit
