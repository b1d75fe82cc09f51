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
from compile.report.schema import Report
from compile.validate.gates import GateResult


def junit_xml(gates: list[GateResult], suite: str, properties: dict[str, Any] | None = None) -> str:
    """One test case per gate, its verdict in a ``verdict`` property: a failed gate (or, strict, an inconclusive
    one) is a ``<failure>`` (type ``GateFailed`` / ``GateInconclusive``), a skipped one ``<skipped/>``, an
    inconclusive one that does not fail passes with its message starting ``INCONCLUSIVE`` in ``<system-out>``."""
    failures = sum(1 for g in gates if not g.skipped and not g.passed)
    skipped = sum(1 for g in gates if g.skipped)
    root = ET.Element("testsuites", name="compile", tests=str(len(gates)), failures=str(failures), errors="0")
    suite_el = ET.SubElement(root, "testsuite", name=suite, tests=str(len(gates)), failures=str(failures),
                             errors="0", skipped=str(skipped))
    if properties:
        props = ET.SubElement(suite_el, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=str(key), value=str(value))
    for gate in gates:
        case = ET.SubElement(suite_el, "testcase", name=gate.name, classname=f"compile.gates.{suite}", time="0")
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="verdict", value=gate.verdict)
        message = gate.message()
        if gate.skipped:
            ET.SubElement(case, "skipped", message=message)
        elif not gate.passed:
            kind = "GateInconclusive" if gate.verdict == "inconclusive" else "GateFailed"
            failure = ET.SubElement(case, "failure", message=message, type=kind)
            failure.text = message + (f"; {gate.reason}" if gate.reason else "")
        else:
            ET.SubElement(case, "system-out").text = ("INCONCLUSIVE: " if gate.verdict == "inconclusive" else "") + message
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, report: Report) -> None:
    model = report.model or "model"
    model = Path(model).stem if "/" in model else model
    suite = re.sub(r"[^A-Za-z0-9_-]+", "_", f"{model}-{report.profile}-{report.precision}".strip("-"))
    properties = {"passed": report.passed, "backend": report.backend, "artifact": report.artifacts.get("final") or ""}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, junit_xml(report.gates, suite, properties))
