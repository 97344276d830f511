"""Where a dotted spec path (`software.nvidia.driver_version`, `hybrid_link.vpn.0.peer_ip`) sits in
factory.yaml: the composed YAML keeps every node's line and column."""

from __future__ import annotations

import yaml

# Problem paths that name no field: the whole file, or its YAML syntax.
FILE_LEVEL = {"(file)", "(top level)", "(yaml)"}


def position(root: yaml.Node | None, dotted: str) -> tuple[int, int]:
    """(line, column), both from 1, of the field at `dotted` under `root`; a path that is not there (a
    missing field) gives its nearest present parent."""
    if root is None or dotted in FILE_LEVEL:
        return 1, 1
    node, mark = root, root.start_mark
    for part in dotted.split("."):
        node, key_mark = _child(node, part)
        if node is None:
            break
        mark = key_mark
    return mark.line + 1, mark.column + 1


def _child(node: yaml.Node, part: str) -> tuple[yaml.Node | None, yaml.Mark | None]:
    """The child of a mapping (by key; the key's position) or of a sequence (by index)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return value, key.start_mark
    elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
        item = node.value[int(part)]
        return item, item.start_mark
    return None, None
