"""Node exporter's textfile format: a metric family's HELP, TYPE and samples, from its definition in `metrics`.

Shared by the programs that write the project's `aifactory_*.prom` files (Slurm's collector, the node health check),
which replace them whole (`aifactory.core.atomic`); standard library and `aifactory.monitoring.metrics` only, as
those programs are zipapps that carry nothing else.
"""

from __future__ import annotations

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
