"""Pulumi entry point: read the spec named by `aifactory:spec` and declare the factory's AWS side.

Runs under `pulumi preview/up` (Pulumi.yaml: `main: infra/`) and under `runpy.run_path` from other
tools (`aifactory plan` runs it against the Pulumi mock engine). Either way `aifactory` and `infra` are
the installed packages (`pip install` of this project, editable in a checkout).
"""

import pulumi

from aifactory.spec import SpecError, load_spec
from infra.factory_stack import build, spec_path

try:
    _factory = load_spec(spec_path(pulumi.Config("aifactory").require("spec")))
except SpecError as err:
    raise pulumi.RunError(str(err)) from None

for _name, _value in build(_factory).items():
    pulumi.export(_name, _value)
