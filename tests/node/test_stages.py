"""The stage list is site.yml's (aifactory.node.stages): bringup's stages, rollout's and the plays'
stages are read from it, in its order; a site.yml that does not read as a stage list is refused."""

from __future__ import annotations

import pytest
import yaml

from aifactory.day2.rollout import ROLLOUT_STAGES
from aifactory.node.bringup import PLAYBOOKS, STAGES
from aifactory.node.stages import StageListError, site_stages

SITE = PLAYBOOKS / "site.yml"


def test_the_stages_are_site_ymls_imports_in_its_order_less_the_validation():
    entries = yaml.safe_load(SITE.read_text())
    assert entries[0]["ansible.builtin.import_playbook"] == "validate.yml" and "always" in entries[0]["tags"]
    assert STAGES == site_stages(SITE) == tuple(e["tags"][0] for e in entries[1:])
    assert all((PLAYBOOKS / f"{stage}.yml").is_file() for stage in STAGES)
    assert [s for s in STAGES if s in ROLLOUT_STAGES] == list(ROLLOUT_STAGES)  # rolled out: stages, in order


def test_a_reordered_site_yml_reorders_the_stages(tmp_path):
    entries = yaml.safe_load(SITE.read_text())
    site = tmp_path / "site.yml"
    site.write_text(yaml.safe_dump([entries[0], entries[2], entries[1]]))
    assert site_stages(site) == (entries[2]["tags"][0], entries[1]["tags"][0])


@pytest.mark.parametrize("entry, message", [
    ({"ansible.builtin.import_playbook": "os.yml", "tags": ["drivers"]}, "entry 1 \\(os.yml\\) must be tagged"),
    ({"ansible.builtin.import_playbook": "os.yml", "tags": ["os", "extra"]}, "tagged with its stage's name alone"),
    ({"hosts": "all", "tasks": []}, "entry 1 is not an import_playbook with tags"),
])
def test_a_site_yml_that_is_not_a_stage_list_is_refused(tmp_path, entry, message):
    site = tmp_path / "site.yml"
    site.write_text(yaml.safe_dump([entry]))
    with pytest.raises(StageListError, match=message):
        site_stages(site)
    site.write_text("{not: a list}")
    with pytest.raises(StageListError, match="not a list of plays"):
        site_stages(site)
