"""The bring-up's stages, read from playbooks/site.yml: its one source. Each stage is an
`import_playbook` of `<stage>.yml` tagged with the stage's name, in bring-up order; the entries tagged
`always` (the inventory validation) are not stages."""

from __future__ import annotations

from pathlib import Path

import yaml

ALWAYS = "always"
# The stage whose verdict gates a batch (AWX's workflow) and whose DCGM diagnostic spares nodes running jobs
# (`aifactory bringup`).
ACCEPTANCE_STAGE = "acceptance"


class StageListError(Exception):
    """site.yml does not read as a stage list."""


def site_stages(site: Path) -> tuple[str, ...]:
    """The stage names in site.yml's order."""
    try:
        entries = yaml.safe_load(site.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise StageListError(f"{site}: {err}") from None
    if not isinstance(entries, list):
        raise StageListError(f"{site}: not a list of plays")
    stages = []
    for index, entry in enumerate(entries, 1):
        book = entry.get("ansible.builtin.import_playbook") if isinstance(entry, dict) else None
        tags = entry.get("tags") if isinstance(entry, dict) else None
        if not isinstance(book, str) or not isinstance(tags, list):
            raise StageListError(f"{site}: entry {index} is not an import_playbook with tags")
        if ALWAYS in tags:
            continue
        if len(tags) != 1 or book != f"{tags[0]}.yml":
            raise StageListError(f"{site}: entry {index} ({book}) must be tagged with its stage's name alone, "
                                 f"not {tags}")
        stages.append(tags[0])
    return tuple(stages)
