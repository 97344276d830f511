"""What a BMC's Redfish inventory says, read once in Python: which system a host acts on, its firmware
versions, how they compare with a baseline, the power command a power action still needs, and the hardware
record of a replaced node.

The input is what community.general.redfish_info returns: GetSystemInventory's `entries`
(`[[{system_uri}, {properties}], ...]`) and GetFirmwareInventory's (`[{Id, Name, Version}, ...]`). The bmc
role and playbooks/replace.yml call these through the filters of playbooks/filter_plugins/aifactory_redfish.py;
aifactory.day2.replace records what replace.yml hands back with `hardware_record`.
"""

from __future__ import annotations

ABSENT = "absent"


class RedfishDataError(ValueError):
    """The data is not what redfish_info returns."""


def select_system(entries: list, system_id: str = "") -> dict:
    """The properties of the system a host acts on: the one whose URI ends with `/<system_id>`, or, with no
    id, the BMC's only system. {} when there is none, or several and no id names one (nothing is guessed)."""
    if not isinstance(entries, list):
        raise RedfishDataError("the system inventory must be a list of [location, properties] pairs")
    systems = [pair for pair in entries if isinstance(pair, list | tuple) and len(pair) == 2
               and isinstance(pair[0], dict) and isinstance(pair[1], dict)]
    if system_id:
        chosen = [props for where, props in systems if str(where.get("system_uri", "")).endswith(f"/{system_id}")]
    else:
        chosen = [props for _, props in systems]
    return dict(chosen[0]) if len(chosen) == 1 else {}


def firmware_versions(entries: list) -> dict[str, str]:
    """{component: version} of a firmware inventory, each component named by its Id (or its Name)."""
    return {str(e.get("Id") or e.get("Name")): str(e.get("Version", "")) for e in _firmware(entries)
            if e.get("Id") or e.get("Name")}


def firmware_mismatches(entries: list, baseline: dict) -> list[dict]:
    """The baseline's components ({Id or Name: version}) whose version differs from the inventory's:
    `[{component, expected, found}]`, `found` being `absent` where the BMC lists no such component."""
    if not isinstance(baseline, dict):
        raise RedfishDataError("the firmware baseline must map component Id or Name to a version")
    found: dict[str, str] = {}
    for entry in _firmware(entries):
        for key in (entry.get("Id"), entry.get("Name")):
            if key:
                found.setdefault(str(key), str(entry.get("Version", "")))
    return [{"component": component, "expected": version, "found": found.get(str(component), ABSENT)}
            for component, version in baseline.items() if found.get(str(component)) != str(version)]


def power_command(system: dict, action: str, off_command: str = "PowerForceOff") -> str:
    """The Redfish command a power action (`none`, `on`, `off`, `restart`) still needs on the selected system,
    or "" when there is nothing to send: `on` and `off` only when the system is not in that PowerState
    already (a re-run sends nothing); `restart` always."""
    if action == "none":
        return ""
    if action == "restart":
        return "PowerForceRestart"
    wanted = {"on": ("On", "PowerOn"), "off": ("Off", off_command)}
    if action not in wanted:
        raise RedfishDataError(f"unknown power action {action!r} (none, on, off or restart)")
    state, command = wanted[action]
    return "" if (system or {}).get("PowerState") == state else command


def hardware_record(system: dict | None, firmware: dict | None) -> dict:
    """Serial, maker, model, BIOS and firmware versions of a node, from its selected system's properties
    and its firmware versions."""
    system = system or {}
    return {"serial": system.get("SerialNumber"), "manufacturer": system.get("Manufacturer"),
            "model": system.get("Model"), "bios_version": system.get("BiosVersion"),
            "firmware": {str(k): str(v) for k, v in (firmware or {}).items()}}


def _firmware(entries: list) -> list[dict]:
    if not isinstance(entries, list):
        raise RedfishDataError("the firmware inventory must be a list of components")
    return [e for e in entries if isinstance(e, dict)]
