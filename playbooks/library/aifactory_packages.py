#!/usr/bin/python
"""Ansible module: what dpkg says of some packages, and what an apt call would have to install.

The roles read their packages' state with it once, and run their apt task only when `to_install` is
not empty: the apt module loads the whole APT cache (seconds per host) even when nothing is to be
done, and an install under `async` waits a full poll interval even then. The comparison with a pin
lives here, once (`package_state`, a pure function over `dpkg-query` output, tested as data).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: aifactory_packages
short_description: Read dpkg's state of some packages; say which are missing, at another version, held
description:
  - Runs C(dpkg-query --show) once, for just the packages named (no APT cache is loaded), and returns per
    package its installed version, its dpkg status and whether it is held.
  - A package is installed when dpkg's status is C(installed); any other (C(half-installed),
    C(config-files) after a removal, C(unpacked), ...) or none at all makes it C(missing).
  - A pin in O(versions) is a prefix of the Debian version, as the roles pin with APT's C(name=version*)
    - C(580.95.05) matches C(580.95.05) and C(580.95.05-0ubuntu1) (the pin, then the end or one of
    C(-), C(+), C(~)), not C(580.95.051-1). An installed package that does not match its pin is C(outdated).
  - Never changes anything (C(changed) is always false); runs the same in check mode.
options:
  names:
    description:
      - Package names. A name with shell wildcards (C(nvidia-fabricmanager*)) reads every installed package
        it matches; such a name is only reported, never C(missing), C(outdated) nor in C(to_install).
    type: list
    elements: str
    required: true
  versions:
    description:
      - Version pins, package name to a prefix of its Debian version; a package not named here, or pinned to an
        empty string, takes any version.
    type: dict
    default: {}
author: aifactory
"""

EXAMPLES = r"""
- name: Read the state of the driver packages
  aifactory_packages:
    names: [nvidia-headless-580-server-open, nvidia-utils-580-server, datacenter-gpu-manager-4-cuda12]
    versions:
      nvidia-headless-580-server-open: 580.95.05
      nvidia-utils-580-server: 580.95.05
  register: __example_packages

- name: Install what is missing or at another version
  when: __example_packages.to_install | length > 0
  ansible.builtin.apt:
    name: "{{ __example_packages.to_install }}"
    allow_downgrade: "{{ __example_packages.outdated | length > 0 }}"
"""

RETURN = r"""
packages:
  description:
    - Per package (the names, and what a wildcard matched) its installed C(version) (empty when not installed),
      dpkg's C(status) (C(not-installed) when dpkg does not know it), C(installed) and C(held).
  type: dict
  returned: always
  sample: {"nvidia-utils-580-server": {"version": "580.95.05-0ubuntu1", "status": "installed", "installed": true, "held": true}}
missing:
  description: The names (no wildcards) not installed, in the order given.
  type: list
  elements: str
  returned: always
outdated:
  description: The pinned names installed at a version that does not match their pin.
  type: list
  elements: str
  returned: always
to_install:
  description: What an apt call needs for the missing and outdated names, C(name=pin*) where pinned, else C(name).
  type: list
  elements: str
  returned: always
  sample: ["nvidia-utils-580-server=580.95.05*", "datacenter-gpu-manager-4-cuda12"]
held:
  description: The packages dpkg holds (selection C(hold)), of those in C(packages).
  type: list
  elements: str
  returned: always
"""

import fnmatch

from ansible.module_utils.basic import AnsibleModule

# One line per package dpkg knows of among those asked: name, version, "want flag status".
SHOW_FORMAT = "${Package}\t${Version}\t${Status}\n"
WILDCARDS = "*?["
PIN_ENDS = "-+~"  # what may follow a pin in a matching Debian version (revision, local or pre-release suffix)


def parse_dpkg_query(output: str) -> dict[str, dict]:
    """The packages of `dpkg-query --show --showformat SHOW_FORMAT` output; of a package listed more than
    once (one per architecture), the installed instance."""
    found: dict[str, dict] = {}
    for line in output.splitlines():
        fields = line.split("\t")
        if len(fields) != 3 or not fields[0]:
            continue
        name, version, status_field = fields
        want, _, status = (status_field.split() + ["", "", ""])[:3]
        installed = status == "installed"
        entry = {"version": version if installed else "", "status": status or "not-installed", "installed": installed,
                 "held": want == "hold"}
        if name not in found or (entry["installed"] and not found[name]["installed"]):
            found[name] = entry
    return found


def matches_pin(version: str, pin: str) -> bool:
    """Whether an installed Debian version is the pinned one: the pin, then nothing or a suffix."""
    return version == pin or (version.startswith(pin) and version[len(pin)] in PIN_ENDS)


def package_state(names: list[str], versions: dict[str, str], output: str) -> dict:
    """The module's result from the names and pins asked and what dpkg-query printed for them."""
    known = parse_dpkg_query(output)
    absent = {"version": "", "status": "not-installed", "installed": False, "held": False}
    packages: dict[str, dict] = {}
    missing, outdated, to_install = [], [], []
    for name in names:
        if any(c in name for c in WILDCARDS):
            packages.update({n: e for n, e in known.items() if fnmatch.fnmatchcase(n, name) and e["installed"]})
            continue
        entry = packages[name] = known.get(name, absent)
        pin = versions.get(name)
        if not entry["installed"]:
            missing.append(name)
        elif pin and not matches_pin(entry["version"], pin):
            outdated.append(name)
        else:
            continue
        to_install.append(f"{name}={pin}*" if pin else name)
    return {"packages": packages, "missing": missing, "outdated": outdated, "to_install": to_install,
            "held": [name for name, entry in packages.items() if entry["held"]]}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "names": {"type": "list", "elements": "str", "required": True},
            "versions": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    names = list(dict.fromkeys(module.params["names"]))
    versions = {str(k): "" if v is None else str(v) for k, v in module.params["versions"].items()}
    output = ""
    if names:
        dpkg_query = module.get_bin_path("dpkg-query", required=True)
        # Exit 1: some of the names are unknown to dpkg (not installed), reported as such.
        rc, output, err = module.run_command([dpkg_query, "--show", "--showformat", SHOW_FORMAT, "--", *names])
        if rc not in (0, 1):
            module.fail_json(msg=f"dpkg-query failed (exit {rc}): {err.strip()}", rc=rc)
    module.exit_json(changed=False, **package_state(names, versions, output))


if __name__ == "__main__":
    main()
