"""YAML loading that remembers the line of every key, so errors can point at it.

A recipe is small, hand-written data, so loading refuses what only a mistake or an attack
produces: duplicate keys (YAML keeps the last one silently), nesting deeper than `MAX_DEPTH`
levels (Python's recursion limit would stop it with an internal error), aliases that contain
themselves, and aliases that expand to more than `MAX_VALUES` values ("billion laughs": a few
lines that would take gigabytes once expanded). All checks run on the parsed node graph, before
any Python data is built, and visit each node once.
"""

from __future__ import annotations

from typing import Any

import yaml

from prepkit.errors import RecipeError

Path_ = tuple[Any, ...]

MAX_DEPTH = 100  # levels of nested lists/mappings, aliases expanded
MAX_VALUES = 1_000_000  # scalars, lists and mappings, aliases expanded

_MERGE_TAG = "tag:yaml.org,2002:merge"
_PYTHON_TAG = "tag:yaml.org,2002:python/"


class _Problem(Exception):
    """A YAML problem at a 1-based line (and column, when it is known)."""

    def __init__(self, line: int | None, column: int | None, message: str, hint: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message, self.hint = line, column, message, hint

    @classmethod
    def at(cls, mark: yaml.Mark | None, message: str, hint: str) -> _Problem:
        if mark is None:
            return cls(None, None, message, hint)
        return cls(mark.line + 1, mark.column + 1, message, hint)


_DEPTH_HINT = (
    "a recipe needs only a few levels of nesting; look for unbalanced brackets, "
    "or for aliases (*name) that nest each other"
)


class _Loader(yaml.SafeLoader):
    """SafeLoader that stops at nesting deeper than MAX_DEPTH and at self-containing aliases."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._open_anchors: set[str] = set()
        self.alias_lines: dict[tuple[int, int], int] = {}  # (id(list node), index) -> line

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        # checked in the scanner too: it reads ahead, and `[[[[...` costs it quadratic time
        if self.flow_level >= MAX_DEPTH:
            raise _Problem.at(
                self.get_mark(), f"YAML nested deeper than {MAX_DEPTH} levels", _DEPTH_HINT
            )
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                raise _Problem.at(
                    event.start_mark,
                    f"alias '*{event.anchor}' is inside the value it refers to "
                    "(a recursive structure)",
                    f"move '*{event.anchor}' out of the value anchored as '&{event.anchor}'",
                )
            if isinstance(index, int):
                self.alias_lines[(id(parent), index)] = event.start_mark.line + 1
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise _Problem.at(
                event.start_mark, f"YAML nested deeper than {MAX_DEPTH} levels", _DEPTH_HINT
            )
        anchor = getattr(event, "anchor", None)
        self._depth += 1
        if anchor is not None:
            self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open_anchors.discard(anchor)


def _key_text(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"<{node.id} key>"


def _key_identity(loader: _Loader, node: yaml.Node) -> Any:
    """What a key becomes in Python, so `1:` and `1.0:` or `yes:` and `true:` count as one key."""
    if not isinstance(node, yaml.ScalarNode):
        return ("node", id(node))
    try:
        value = loader.construct_object(node, deep=True)
        hash(value)
    except (yaml.YAMLError, TypeError):
        return (node.tag, node.value)
    return ("value", value)


def _check_keys(loader: _Loader, node: yaml.MappingNode) -> None:
    first: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:  # `<<: *a` merges; YAML keeps explicit keys over merged ones
            continue
        identity = _key_identity(loader, key_node)
        if identity in first:
            earlier = first[identity].start_mark.line + 1
            raise _Problem(
                key_node.start_mark.line + 1,
                None,
                f"duplicate key '{_key_text(key_node)}' (first at line {earlier})",
                "remove one of the two: YAML would silently keep only the last one",
            )
        first[identity] = key_node


def _children(node: yaml.Node) -> list[tuple[yaml.Node, str | int | None]]:
    """A node's children with the path part of each (None for mapping keys)."""
    if isinstance(node, yaml.MappingNode):
        out: list[tuple[yaml.Node, str | int | None]] = []
        for key_node, value_node in node.value:
            out += [(key_node, None), (value_node, _key_text(key_node))]
        return out
    if isinstance(node, yaml.SequenceNode):
        return [(item, i) for i, item in enumerate(node.value)]
    return []


def _check_and_map(loader: _Loader, root: yaml.Node) -> dict[Path_, int]:
    """Check keys, depth and size of the node graph; return the line of each key path.

    Each node is visited once: a node reached again through an alias reuses its measured size
    and depth, and adds no lines (errors inside it point at the alias's key instead).
    """
    lines: dict[Path_, int] = {}
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    via_alias: set[int] = set()
    stack: list[tuple[yaml.Node, Path_ | None, bool, int | None]] = [(root, (), False, None)]
    while stack:
        node, path, done, alias_line = stack.pop()
        key = id(node)
        if key in size:  # reached again through an alias: measured already
            via_alias.add(key)
            if path is not None and alias_line is not None:
                lines.setdefault(path, alias_line)
            continue
        kids = _children(node)
        if done:
            size[key] = 1 + sum(size[id(kid)] for kid, _ in kids)
            depth[key] = 1 + max((depth[id(kid)] for kid, _ in kids), default=0)
            aliased = any(id(kid) in via_alias for kid, _ in kids)
            if aliased:
                via_alias.add(key)
            if size[key] > MAX_VALUES:
                raise _Problem.at(
                    node.start_mark,
                    f"this value expands to more than {MAX_VALUES:,} YAML values"
                    + (" once its aliases (*name) are expanded" if aliased else ""),
                    "use fewer nested aliases (*name): a recipe never needs this many values"
                    if aliased
                    else "a recipe is settings, not data: keep long lists in a data file",
                )
            if depth[key] > MAX_DEPTH:
                raise _Problem.at(
                    node.start_mark,
                    f"YAML nested deeper than {MAX_DEPTH} levels once its aliases are expanded",
                    _DEPTH_HINT,
                )
            continue
        if path is not None:
            lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            _check_keys(loader, node)
            for key_node, _ in node.value:
                if path is not None:
                    lines[(*path, _key_text(key_node))] = key_node.start_mark.line + 1
        stack.append((node, path, True, None))
        for kid, part in reversed(kids):
            child = None if path is None or part is None else (*path, part)
            line = loader.alias_lines.get((key, part)) if isinstance(part, int) else None
            stack.append((kid, child, False, line))
    return lines


def _syntax_problem(exc: yaml.MarkedYAMLError) -> _Problem:
    """A readable message and a hint fitted to the kind of YAML mistake."""
    problem = exc.problem or exc.context or "invalid YAML"
    mark = exc.problem_mark or exc.context_mark
    if isinstance(exc, yaml.constructor.ConstructorError) and "for the tag" in problem:
        tag = problem.rpartition("for the tag ")[2].strip("'")
        if tag.startswith(_PYTHON_TAG):
            name = "!!" + tag.removeprefix("tag:yaml.org,2002:")
            return _Problem.at(
                mark,
                f"Python tags are not allowed in recipes: '{name}'",
                "a recipe is plain YAML (text, numbers, lists, mappings); it never builds "
                "Python objects",
            )
        tag = "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:") else tag
        return _Problem.at(
            mark,
            f"unknown YAML tag '{tag}'",
            "write the value as plain YAML without a tag, or quote it if it is text",
        )
    if exc.context == "while scanning a quoted scalar":
        return _Problem.at(
            exc.context_mark,
            f"a quoted value is never closed ({problem})",
            "close the quote on the same value, or escape a quote inside it",
        )
    if "'\\t'" in problem:
        return _Problem.at(
            mark,
            "a tab character where YAML expects indentation or a value",
            "indent with spaces; YAML does not allow tabs for indentation",
        )
    if exc.context == "expected a single document in the stream":
        return _Problem.at(
            mark,
            "a second YAML document (`---`) in a recipe file",
            "keep one recipe per file: remove the `---` line and what follows, or split the file",
        )
    if "undefined alias" in problem:
        return _Problem.at(
            mark, problem, "define the anchor (`&name`) before the alias (`*name`) that uses it"
        )
    return _Problem.at(
        mark,
        f"YAML syntax error: {problem}",
        "check indentation and that every `key: value` pair has a space after the colon",
    )


def _parse(text: str) -> tuple[Any, dict[Path_, int]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines = _check_and_map(loader, node)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        raise _syntax_problem(exc) from None
    except yaml.YAMLError as exc:
        raise _Problem(None, None, f"YAML error: {exc}", "check the file is YAML text") from None
    finally:
        loader.dispose()


def load_yaml(text: str, source: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML text; return the data and a map from key path to 1-based line number.

    Raises `RecipeError` naming `source`, the line and the column of the problem.
    """
    try:
        return _parse(text)
    except _Problem as p:
        where = source if p.line is None else f"{source}:{p.line}"
        where += f":{p.column}" if p.line is not None and p.column is not None else ""
        raise RecipeError(f"{where}: {p.message}", hint=p.hint) from None


def load_value(text: str, what: str) -> Any:
    """Parse one YAML value given on the command line; errors name `what` (`--set seed=[1,`)."""
    try:
        return _parse(text)[0]
    except _Problem as p:
        where = f" (column {p.column})" if p.line == 1 and p.column else ""
        where = f" (line {p.line}, column {p.column})" if p.line and p.line > 1 else where
        syntax = p.message.startswith("YAML syntax error")
        raise RecipeError(
            f"{what}: not a valid YAML value: {p.message.removeprefix('YAML syntax error: ')}"
            f"{where}",
            hint="write the value as YAML: a number, text, [a, b] or {key: value}; quote text "
            "that holds YAML characters, e.g. --set 'name=\"a: b\"'"
            if syntax
            else p.hint,
        ) from None


def check_data(data: Any, source: str) -> None:
    """Refuse a recipe given as Python data that contains itself, nests too deep or is huge.

    The checks YAML loading makes, for `load_recipe(dict)`; a shared object is measured once.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        value, done = stack.pop()
        if not isinstance(value, (dict, list, tuple)):
            continue
        key = id(value)
        if done:
            open_.discard(key)
            kids = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            size[key] = 1 + sum(size.get(id(k), 1) for k in kids)
            depth[key] = 1 + max((depth.get(id(k), 0) for k in kids), default=0)
            if size[key] > MAX_VALUES:
                raise RecipeError(f"{source}: the recipe holds more than {MAX_VALUES:,} values")
            if depth[key] > MAX_DEPTH:
                raise RecipeError(f"{source}: the recipe is nested deeper than {MAX_DEPTH} levels")
            continue
        if key in open_:
            raise RecipeError(f"{source}: the recipe contains itself (a recursive structure)")
        if key in size:
            continue
        open_.add(key)
        stack.append((value, True))
        kids = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        stack.extend((k, False) for k in reversed(kids) if isinstance(k, (dict, list, tuple)))


def line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    """The line of `path`, or of its closest ancestor that has one."""
    path = tuple(p if isinstance(p, int) else str(p) for p in path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())
