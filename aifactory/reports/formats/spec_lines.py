"""Where a dotted spec path (`software.nvidia.driver_version`, `hybrid_link.vpn.0.peer_ip`) sits in
factory.yaml: the YAML is composed (not loaded) so every node keeps its line and column."""

from __future__ import annotations

from pathlib import Path

import yaml

# Problem paths that name no field: the whole file, or its YAML syntax.
FILE_LEVEL = {"(file)", "(top level)", "(yaml)"}


def spec_position(spec_file: Path, dotted: str) -> tuple[int, int]:
    """(line, column), both from 1, of the field at `dotted`; a path that is not there (a missing
    field) gives its nearest present parent, a YAML syntax error gives where the parser stopped."""
    if dotted == "(file)":  # the file itself is unusable (a FIFO, /dev/zero, too large): never read it again
        return 1, 1
    try:
        text = spec_file.read_text(encoding="utf-8", errors="replace")
        node = yaml.compose(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        return (mark.line + 1, mark.column + 1) if mark else (1, 1)
    except (OSError, ValueError, RecursionError, yaml.YAMLError):
        return 1, 1
    if node is None or dotted in FILE_LEVEL:
        return 1, 1
    mark = node.start_mark
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
