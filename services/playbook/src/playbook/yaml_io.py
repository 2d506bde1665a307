"""Playbook drafts as YAML files people edit: `load_draft` reads one, `dump_draft` writes one.

Reading is strict. The file is composed into a node tree by PyYAML's SafeLoader, here refusing
anchors, aliases, tags and deep nesting as they are met, so an alias bomb never expands. Plain
data is then built from the nodes, keeping each node's place, and every Problem that
`draft_from_dict` or `validate` finds is reported at the line and column of its node, or of the
nearest enclosing node when the field is missing.

Scalars take the type YAML 1.1 resolves for them, so an unquoted `yes`, `no`, `on` or `off` in a
text field is a boolean, not a word: it is reported as "must be a string" at its line rather
than silently read as "True" or guessed back into text. Quoting it makes it text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Protocol

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import CollectionStartEvent, Event, NodeEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from playbook.domain import (
    RELATIONSHIP_TYPES,
    InvalidPlaybook,
    PlaybookDraft,
    Problem,
    draft_from_dict,
    draft_to_dict,
    validate,
)

MAX_YAML_BYTES: Final = 1024 * 1024
# A playbook nests seven levels deep (a rule's answered_by); far deeper input only exhausts the
# composer's recursion.
MAX_DEPTH: Final = 32

# The path of a problem with the file itself rather than with a field of the draft.
_YAML_PATH: Final = "(yaml)"
_DRAFT_PATH: Final = "(draft)"
_STR: Final = "tag:yaml.org,2002:str"
_CONSTRUCTOR: Final = SafeConstructor()
_SCALARS: Final[dict[str, Callable[[ScalarNode], object]]] = {
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
}
# Line breaks other than '\n' that PyYAML would fold or normalise in a literal or quoted scalar.
_ODD_BREAKS: Final = "\r\x85\u2028\u2029"


class _Mark(Protocol):
    """A place in the file, 0-based, as PyYAML's marks give it."""

    line: int
    column: int


def load_draft(
    text: str | bytes, relationship_types: Sequence[str] = RELATIONSHIP_TYPES
) -> PlaybookDraft:
    """Reads and validates a YAML playbook (its types against the tenant's
    `relationship_types`); raises InvalidPlaybook with every problem located.

    Each Problem keeps its domain path and has a reason starting `line L, column C: `.
    Problems with the file itself (size, encoding, syntax, anchors, tags) have path `(yaml)`.
    """
    root = _compose(_decoded(text))
    nodes: dict[str, Node] = {}
    shape: list[Problem] = []
    data = _plain(root, "", nodes, shape) if root is not None else None
    if shape:
        raise InvalidPlaybook(shape)
    try:
        draft = draft_from_dict(data)
    except InvalidPlaybook as invalid:
        raise InvalidPlaybook([_placed(p, nodes) for p in invalid.problems]) from invalid
    problems = validate(draft, relationship_types)
    if problems:
        raise InvalidPlaybook([_placed(p, nodes) for p in problems])
    return draft


def dump_draft(draft: PlaybookDraft) -> str:
    """The draft as a YAML file, in block style and field order, that `load_draft` reads back."""
    body = yaml.dump(
        draft_to_dict(draft),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
    )
    return (
        f"# Playbook: {_one_line(draft.name)}. "
        "Edit, check with `playbook check FILE`, publish with `playbook import FILE`\n" + body
    )


# Reading


def _decoded(text: str | bytes) -> str:
    """The text of the file, after refusing one too large or not UTF-8."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if len(data) > MAX_YAML_BYTES:
        within = data[:MAX_YAML_BYTES].decode("utf-8", "ignore")
        raise InvalidPlaybook(
            [
                _problem(
                    _YAML_PATH,
                    f"a playbook file is at most {MAX_YAML_BYTES} bytes; this one has {len(data)}",
                    _end_of(within),
                )
            ]
        )
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as error:
        before = text[: error.start].decode("utf-8")
        raise InvalidPlaybook(
            [_problem(_YAML_PATH, "the file is not UTF-8", _end_of(before))]
        ) from error


def _compose(text: str) -> Node | None:
    """The single document's node tree; a syntax error becomes a located InvalidPlaybook."""
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        reason = ", ".join(part for part in (error.context, error.problem) if part)
        mark = error.problem_mark or error.context_mark
        raise InvalidPlaybook([_problem(_YAML_PATH, reason, mark)]) from error
    except yaml.reader.ReaderError as error:
        reason = f"character #x{error.character:04x} is not allowed"
        raise InvalidPlaybook(
            [_problem(_YAML_PATH, reason, _end_of(text[: error.position]))]
        ) from error


class _Loader(yaml.SafeLoader):
    """SafeLoader's composer, refusing anchors, aliases, tags and deep nesting up front."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event: Event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
        refusal = None
        if isinstance(event, NodeEvent) and event.anchor is not None:
            refusal = "aliases and anchors are not allowed"
        elif isinstance(event, ScalarEvent | CollectionStartEvent) and event.tag is not None:
            refusal = "tags are not allowed; quote a value to make it text"
        elif self._depth >= MAX_DEPTH:
            refusal = f"at most {MAX_DEPTH} levels of nesting"
        if refusal is not None:
            raise InvalidPlaybook([_problem(_YAML_PATH, refusal, event.start_mark)])
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _plain(node: Node, path: str, nodes: dict[str, Node], problems: list[Problem]) -> object:
    """The plain data of `node`, recording every node under its path and every bad key."""
    nodes[path] = node
    if isinstance(node, MappingNode):
        data: dict[str, object] = {}
        first: dict[str, Node] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or key.tag != _STR:
                problems.append(
                    _problem(path or _DRAFT_PATH, "keys must be text; quote it", key.start_mark)
                )
            elif key.value in first:
                problems.append(
                    _problem(
                        _child(path, key.value),
                        f"duplicate key {key.value!r}, first at line "
                        f"{first[key.value].start_mark.line + 1}",
                        key.start_mark,
                    )
                )
            else:
                first[key.value] = key
                data[key.value] = _plain(value, _child(path, key.value), nodes, problems)
        return data
    if isinstance(node, ScalarNode):
        return _scalar(node, path, problems)
    return [_plain(item, f"{path}[{i}]", nodes, problems) for i, item in enumerate(node.value)]


def _scalar(node: ScalarNode, path: str, problems: list[Problem]) -> object:
    construct = _SCALARS.get(node.tag)
    if construct is None:
        return node.value
    try:
        return construct(node)
    except ValueError:  # Python refuses to read an int of thousands of digits.
        problems.append(_problem(path or _DRAFT_PATH, "too many digits", node.start_mark))
        return None


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _placed(problem: Problem, nodes: dict[str, Node]) -> Problem:
    """The problem, located at the node of its path or of the nearest ancestor there is."""
    path = "" if problem.path == _DRAFT_PATH else problem.path
    while path not in nodes and path:
        cut = path.rfind("[") if path.endswith("]") else path.rfind(".")
        path = path[: max(cut, 0)]
    node = nodes.get(path)
    return _problem(problem.path, problem.reason, node.start_mark if node else None)


def _problem(path: str, reason: str, mark: _Mark | None) -> Problem:
    """A problem whose reason starts with the 1-based line and column of `mark`."""
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return Problem(path, f"line {line}, column {column}: {reason}")


def _end_of(text: str) -> yaml.Mark:
    """The mark just after `text`."""
    line = text.count("\n")
    column = len(text) - text.rfind("\n") - 1
    return yaml.Mark("", len(text), line, column, None, 0)


# Writing


class _Dumper(yaml.SafeDumper):
    """SafeDumper that indents lists under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, text: str) -> ScalarNode:
    """Multi-line text as a literal block, text with odd line breaks escaped in double quotes.

    The emitter falls back to quotes when a literal block cannot hold the text exactly.
    """
    style = '"' if any(ch in _ODD_BREAKS for ch in text) else "|" if "\n" in text else None
    return dumper.represent_scalar(_STR, text, style=style)


_Dumper.add_representer(str, _represent_text)


def _one_line(text: str) -> str:
    """`text` fit for a comment: printable characters on one line."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
