"""Node exporter's textfile format: metric families written so that the collector never reads half a file.

Shared by the programs that write the project's `aifactory_*.prom` files (Slurm's collector, the node health check);
standard library and `aifactory.monitoring.metrics` only, as those programs are zipapps that carry nothing else.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from aifactory.monitoring import metrics as m


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def family(metric: m.Metric, samples: list[tuple[dict[str, str], int]]) -> list[str]:
    """A metric's HELP and TYPE lines and one line per sample; ValueError for a label the metric does not carry."""
    lines = [f"# HELP {metric.name} {metric.help}", f"# TYPE {metric.name} {metric.type}"]
    for labels, value in samples:
        unknown = set(labels) - set(metric.labels)
        if unknown:
            raise ValueError(f"{metric.name} has no label {', '.join(sorted(unknown))}")
        text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(f"{metric.name}{{{text}}} {value}")
    return lines


def write_atomically(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Replace `path` so that its reader (node exporter, slurmd, an exporter) never reads half a file: a temporary
    beside it, then a rename."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
