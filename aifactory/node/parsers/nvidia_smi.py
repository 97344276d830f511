"""`nvidia-smi -q -x`: the driver's XML report (DTD nvsmi_device_v12), one `<gpu>` per device."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from aifactory.node.parsers import ParseError, not_available, yes_no

TOOL = "nvidia-smi -q -x"


def parse_nvidia_smi_xml(text: str) -> dict:
    """Driver version and, per GPU, identity, ECC, memory health and NVLink fabric registration."""
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as err:
        raise ParseError(TOOL, f"not XML ({err})") from None
    if root.tag != "nvidia_smi_log":
        raise ParseError(TOOL, f"root element is <{root.tag}>, expected <nvidia_smi_log>")
    return {
        "driver_version": _text(root, "driver_version"),
        "cuda_version": _text(root, "cuda_version"),
        "gpus": [_gpu(gpu) for gpu in root.findall("gpu")],
    }


def _gpu(gpu: ET.Element) -> dict:
    fabric_state = _text(gpu, "fabric/state")
    return {
        "index": _int(_text(gpu, "minor_number")),
        "pci_bus_id": gpu.get("id"),
        "name": _text(gpu, "product_name"),
        "uuid": _text(gpu, "uuid"),
        "serial": _text(gpu, "serial"),
        "persistence_mode": _text(gpu, "persistence_mode"),
        "ecc_mode": _text(gpu, "ecc_mode/current_ecc"),
        "ecc_mode_pending": _text(gpu, "ecc_mode/pending_ecc"),
        "retired_pages_pending": yes_no(_text(gpu, "retired_pages/pending_retirement")),
        "remapped_rows_pending": yes_no(_text(gpu, "remapped_rows/remapped_row_pending")),
        "remapped_rows_failure": yes_no(_text(gpu, "remapped_rows/remapped_row_failure")),
        # "Completed", "In Progress", "Not Started" -> completed, in_progress, not_started
        "fabric_state": fabric_state.lower().replace(" ", "_") if fabric_state else None,
        "fabric_status": _text(gpu, "fabric/status"),
        "clique_id": _text(gpu, "fabric/cliqueId"),
        "cluster_uuid": _text(gpu, "fabric/clusterUuid"),
        "fabric_health": _text(gpu, "fabric/health/summary"),
    }


def _text(element: ET.Element, path: str) -> str | None:
    found = element.find(path)
    return None if found is None else not_available(found.text)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None
