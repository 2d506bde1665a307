"""What a query's selection asks for, read by resolvers that fetch ahead: a parent that
knows its children's needs can bring them in the same batch call."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField


def fields_named(fields: Sequence[object], name: str) -> Iterator[SelectedField]:
    """The fields called `name` (GraphQL name) at this level of the selection, through
    fragments too."""
    for field in fields:
        if isinstance(field, FragmentSpread | InlineFragment):
            yield from fields_named(field.selections, name)
        elif isinstance(field, SelectedField) and field.name == name:
            yield field


def selects(fields: Sequence[object], path: Sequence[str]) -> bool:
    """Whether the selection asks for `path` (GraphQL names), through fragments too."""
    if not path:
        return True
    return any(selects(f.selections, path[1:]) for f in fields_named(fields, path[0]))


def child_arguments(info: Info[Any, Any], name: str, argument: str) -> set[object]:
    """The values the `name` fields right under the resolver's own field give `argument`
    (an integer literal's or a variable's value; None where it is left out, or is anything
    else), through fragments too. Reads the query's syntax tree: unlike Strawberry's
    `selected_fields`, which converts the whole selection below, it costs microseconds."""
    raw, variables = info._raw_info, info.variable_values
    values: set[object] = set()

    def walk(selection_set: SelectionSetNode | None) -> None:
        for node in selection_set.selections if selection_set is not None else ():
            if isinstance(node, FieldNode):
                if node.name.value == name:
                    values.add(_argument(node, argument, variables))
            elif isinstance(node, InlineFragmentNode):
                walk(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                fragment = raw.fragments.get(node.name.value)
                walk(fragment.selection_set if fragment is not None else None)

    for field in raw.field_nodes:
        walk(field.selection_set)
    return values


def _argument(field: FieldNode, argument: str, variables: dict[str, Any]) -> object:
    for given in field.arguments or ():
        if given.name.value == argument:
            if isinstance(given.value, IntValueNode):
                return int(given.value.value)
            if isinstance(given.value, VariableNode):
                return variables.get(given.value.name.value)
            return None
    return None
