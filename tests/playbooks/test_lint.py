"""ansible-lint, production profile, over the playbooks and roles (config: .ansible-lint)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ansible_lint_production_profile_is_clean():
    lint = Path(sys.executable).with_name("ansible-lint")
    done = subprocess.run(
        [str(lint), "--offline", "--profile", "production", "--nocolor", "playbooks/"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr


def test_every_role_is_played_so_that_the_lint_run_checks_it_in_a_play():
    """A role no playbook names would be linted as loose files only (and never run by a stage)."""
    playbooks = "\n".join(p.read_text() for p in (REPO / "playbooks").glob("*.yml"))
    roles = sorted(p.name for p in (REPO / "playbooks" / "roles").iterdir() if (p / "tasks").is_dir())
    assert "node_exporter" in roles and "prometheus_server" in roles
    assert [r for r in roles if f"role: {r}\n" not in playbooks] == []
