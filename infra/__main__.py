"""Pulumi entry point: read the spec named by `aifactory:spec` and declare the factory's AWS side.

Runs under `pulumi preview/up` (Pulumi.yaml: `main: infra/`) and under `runpy.run_path` from other
tools (`aifactory plan` runs it against the Pulumi mock engine). Either way the project root is put on
sys.path so that `aifactory` and `infra` import without installing anything.
"""

import sys
from pathlib import Path

_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
if _PROJECT_ROOT not in sys.path:
    sys.path.insert(0, _PROJECT_ROOT)

import pulumi  # noqa: E402

from aifactory.spec import SpecError, load_spec  # noqa: E402
from infra.factory_stack import build, spec_path  # noqa: E402

try:
    _factory = load_spec(spec_path(pulumi.Config("aifactory").require("spec")))
except SpecError as err:
    raise pulumi.RunError(str(err)) from None

for _name, _value in build(_factory).items():
    pulumi.export(_name, _value)
