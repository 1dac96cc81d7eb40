"""A YAML loader for params.yaml that refuses hostile documents before building anything.

`yaml.safe_load` already refuses Python tags, but not a document that is small on disk and huge
in memory: nested aliases ("billion laughs") expand a few hundred bytes into 10^9 nodes, deep
nesting exhausts the recursion limit, and a multi-megabyte file is no params file. The checks run
in order, each cheap and bounded:

1. file size (`MAX_BYTES`), before the text is decoded;
2. one pass over the parser's events (iterative, no recursion): nesting depth (`MAX_DEPTH`) and
   number of aliases (`MAX_ALIASES`);
3. the composed node graph: nodes counted with every alias expanded (memoised per node, so a
   bomb is measured without being expanded) against `MAX_NODES`.

Only then is the document constructed. The bundled params.yaml: ~5 KB, depth 6, no alias,
~1,100 nodes, so the limits leave a wide margin.
"""

from __future__ import annotations

from typing import Any

import yaml

from retrain.errors import UserError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_ALIASES = 100
MAX_NODES = 100_000

# libyaml when PyYAML was built with it (about 10x faster on a hostile file), else pure Python.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_HINT = "params.yaml is hand-written configuration: write the values out, without deep anchors"


def _events_ok(text: str, source: str) -> None:
    depth = aliases = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise UserError(
                    f"{source} nests collections more than {MAX_DEPTH} levels deep", _HINT
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise UserError(
                    f"{source} uses more than {MAX_ALIASES} YAML aliases (*name)", _HINT
                )


def _expanded_nodes(root: yaml.Node) -> int:
    """Nodes in the document with every alias expanded, without expanding them."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = MAX_NODES + 1  # a node that contains itself: counted as a bomb
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        sizes[id(node)] = total = min(total, MAX_NODES + 1)  # capped: no huge ints either
        return total

    return size(root)


def load_yaml(data: bytes, source: str) -> Any:
    """The document in `data` (bytes of a params file), or UserError naming the limit hit."""
    if len(data) > MAX_BYTES:
        raise UserError(
            f"{source} is {len(data):,} bytes; a params file may have at most {MAX_BYTES:,}",
            "check that --params names params.yaml and not a data file",
        )
    try:
        text = data.decode("utf-8")
        _events_ok(text, source)
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _expanded_nodes(node) > MAX_NODES:
                raise UserError(
                    f"{source} expands to more than {MAX_NODES:,} YAML nodes through its "
                    "aliases (an alias bomb?)",
                    _HINT,
                )
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(
            f"{source} is not valid YAML: {exc}", "fix the syntax at the position shown"
        ) from None
