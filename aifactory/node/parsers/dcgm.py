"""`dcgmi diag -r N -j`: DCGM diagnostics as JSON (DCGM 4: "DCGM Diagnostic"; 3.x: "DCGM GPU Diagnostic")."""

from __future__ import annotations

import json

from aifactory.node.parsers import ParseError

TOOL = "dcgmi diag -j"
ROOT_KEYS = ("DCGM Diagnostic", "DCGM GPU Diagnostic")


def parse_dcgm_diag(text: str) -> dict:
    """`{passed, tests: [{category, name, status}], failures: ["memory on GPU 3: ..."], warnings: [...]}`.

    `passed` is true only when at least one test ran and no result failed.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ParseError(TOOL, f"not JSON (line {err.lineno}: {err.msg})") from None
    root = next((data[k] for k in ROOT_KEYS if isinstance(data, dict) and k in data), None)
    if not isinstance(root, dict):
        raise ParseError(TOOL, f"no {' or '.join(repr(k) for k in ROOT_KEYS)} object")
    metadata = data.get("metadata") or {}
    tests, failures, warnings = [], [], []
    if root.get("runtime_error"):
        failures.append(f"diag: {root['runtime_error']}")
    for category in root.get("test_categories") or []:
        for test in category.get("tests") or []:
            results = test.get("results") or []
            status = (test.get("test_summary") or {}).get("status") or _overall(results)
            tests.append({"category": category.get("category"), "name": test.get("name"), "status": status})
            failed = False
            for result in results:
                entry = f"{test.get('name')} on {_entity(result) or 'the node'}: {_messages(result)}"
                if result.get("status") == "Fail":
                    failures.append(entry)
                    failed = True
                elif result.get("status") == "Warn":
                    warnings.append(entry)
            if status == "Fail" and not failed:
                failures.append(f"{test.get('name')}: test failed")
    return {
        "passed": bool(tests) and not failures,
        "dcgm_version": metadata.get("version") or root.get("version"),
        "driver_version": metadata.get("Driver Version Detected") or root.get("Driver Version Detected"),
        "tests": tests,
        "failures": failures,
        "warnings": warnings,
    }


def _overall(results: list[dict]) -> str:
    statuses = {r.get("status") for r in results}
    for status in ("Fail", "Warn", "Pass"):
        if status in statuses:
            return status
    return "Skip"


def _entity(result: dict) -> str | None:
    if "entity_id" in result:
        return f"{result.get('entity_group', 'GPU')} {result['entity_id']}"
    ids = result.get("gpu_ids") or ([result["gpu_id"]] if "gpu_id" in result else [])
    return ", ".join(f"GPU {i}" for i in ids) or None


def _messages(result: dict) -> str:
    warnings = result.get("warnings") or []
    texts = [w.get("warning", "") if isinstance(w, dict) else str(w) for w in warnings]
    return "; ".join(t for t in texts if t) or result.get("status", "")
