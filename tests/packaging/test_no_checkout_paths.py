"""No module reaches the checkout through its own location (nor puts it on sys.path) or reads tests/: the
installed package finds its project files through aifactory.core.project, and the plugins, the Pulumi
program and the policy pack import the installed aifactory."""

from __future__ import annotations

import re

from tests.conftest import REPO

# A module's own path climbed above its folder (alone or into sys.path), a path into tests/.
REACHING_OUT = re.compile(r"Path\(__file__\)[^\n]*\.(parents\[|parent\.parent)|sys\.path\.(insert|append)\([^\n]*__file__"
                          r"|/\s*[\"']tests[\"']|[\"']tests/")


def offenders() -> list[str]:
    found = []
    for top in ("aifactory", "infra", "policies", "playbooks"):
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            found += [f"{rel}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
                      if REACHING_OUT.search(line)]
    return found


def test_no_module_finds_the_checkout_by_its_own_path():
    assert offenders() == []


def test_the_check_sees_what_it_forbids():
    for line in ('REPO = Path(__file__).resolve().parents[2]', 'ROOT = Path(__file__).parent.parent',
                 'sys.path.insert(0, str(Path(__file__).parent))', 'FIXTURES = REPO / "tests" / "fixtures"',
                 'FIXTURES = "tests/fixtures/redfish"'):
        assert REACHING_OUT.search(line), line
    for line in ('TOOL = Path(__file__).parent / "stand_in.py"', 'sys.path.insert(0, str(program_dir))',
                 'for test in category.get("tests") or []:'):
        assert not REACHING_OUT.search(line), line
