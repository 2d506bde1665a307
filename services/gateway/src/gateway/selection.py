"""What a query's selection asks for, read by resolvers that fetch ahead: a parent that
knows its children's needs can bring them in the same batch call."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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


def one_argument(fields: Sequence[SelectedField], name: str, default: object) -> object | None:
    """The value these fields give argument `name` (a variable's value, a literal's text;
    `default` where a field leaves it out) if they all give the same one, else None."""
    values = {default if f.arguments.get(name) is None else f.arguments[name] for f in fields}
    return values.pop() if len(values) == 1 else None
