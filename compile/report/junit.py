"""JUnit XML for CI systems: one test case per gate, the measured value and threshold in the message.

GitHub Actions (through a test-report action), GitLab and Jenkins all read this format, so a failed
gate shows up as a failed test named after it (``min_top1_agreement``) instead of a bare exit code.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from compile.fsutil import write_text_atomic


def gate_message(gate: dict[str, Any]) -> str:
    """``top1_agreement = 0.95, needs >= 0.97 (min_top1_agreement)``."""
    if gate.get("skipped"):
        return f"{gate['name']} skipped: {gate.get('reason', '')}"
    op = ">=" if gate["name"].startswith("min_") else "<="
    value = gate.get("value")
    shown = "NaN" if value is None else f"{value:.6g}"
    return f"{gate['metric']} = {shown}, needs {op} {gate['threshold']:g} ({gate['name']})"


def junit_xml(gates: list[dict[str, Any]], suite: str, properties: dict[str, Any] | None = None) -> str:
    failures = sum(1 for g in gates if not g.get("skipped") and not g.get("passed"))
    skipped = sum(1 for g in gates if g.get("skipped"))
    root = ET.Element("testsuites", name="compile", tests=str(len(gates)), failures=str(failures), errors="0")
    suite_el = ET.SubElement(root, "testsuite", name=suite, tests=str(len(gates)), failures=str(failures),
                             errors="0", skipped=str(skipped))
    if properties:
        props = ET.SubElement(suite_el, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=str(key), value=str(value))
    for gate in gates:
        case = ET.SubElement(suite_el, "testcase", name=gate["name"], classname=f"compile.gates.{suite}", time="0")
        message = gate_message(gate)
        if gate.get("skipped"):
            ET.SubElement(case, "skipped", message=message)
        elif not gate.get("passed"):
            failure = ET.SubElement(case, "failure", message=message, type="GateFailed")
            failure.text = message + (f"; {gate['reason']}" if gate.get("reason") else "")
        else:
            ET.SubElement(case, "system-out").text = message
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, report: dict[str, Any]) -> None:
    model = str(report.get("model") or "model")
    model = Path(model).stem if "/" in model else model
    suite = re.sub(r"[^A-Za-z0-9_-]+", "_", f"{model}-{report.get('profile', '')}-{report.get('precision', '')}".strip("-"))
    properties = {"passed": report.get("passed"), "backend": report.get("backend", ""),
                  "artifact": (report.get("artifacts") or {}).get("final", "")}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, junit_xml(report.get("gates", []), suite, properties))
