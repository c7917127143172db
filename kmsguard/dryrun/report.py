"""Scenario results as text, JSON and JUnit XML.

No report shows a plaintext, ciphertext, signature or key: results hold only the sizes of the
blobs a step produced (``run._shown``), and AWS's error messages, which the engine builds from ARNs,
operation names and sizes only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree

from kmsguard.dryrun.run import ScenarioResult, Status, StepResult
from kmsguard.report.junit import xml_text

_MARK = {
    Status.PASSED: "PASS",
    Status.FAILED: "FAIL",
    Status.UNRESOLVED: "UNRESOLVED",
    Status.BLOCKED: "BLOCKED",
    Status.ERROR: "ERROR",
}


def summary_counts(result: ScenarioResult) -> dict[str, int]:
    return {status.value: result.count(status) for status in Status}


def actual_text(step: StepResult) -> str:
    """What happened, in the words of an expectation: ``AccessDeniedException, decision ImplicitDeny``."""
    if step.outcome is None:
        return step.status.value
    return step.outcome + (f", decision {step.decision}" if step.decision else ", no authorization")


def render_text(results: Sequence[ScenarioResult]) -> str:
    lines: list[str] = []
    for result in results:
        scenario = result.scenario
        lines.append(f"{scenario.name} ({scenario.path})")
        for step in result.steps:
            lines.extend(_step_lines(scenario.path, step))
        for note in result.notes:
            lines.append(f"  note: {note}")
        counts = summary_counts(result)
        listed = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        lines.append(f"{len(result.steps)} step(s): {listed}")
    return "\n".join(lines) + "\n"


def _step_lines(path: str, step: StepResult) -> list[str]:
    s = step.step
    head = f"  {_MARK[step.status]:<10} {s.id}: {s.principal} {s.operation}"
    lines = [head, f"      expected {s.expect.describe()}; got {actual_text(step)}"]
    if step.outputs:
        lines.append("      " + ", ".join(f"{k} {v}" for k, v in step.outputs.items()))
    if step.reason:
        lines.append(f"      why: {step.reason}")
    if step.message and step.status is not Status.PASSED:
        lines.append(f"      AWS says: {step.message}")
    if not step.passed:
        lines.append(f"      at {path}:{s.line}")
    return lines


def result_json(result: ScenarioResult) -> dict[str, Any]:
    scenario = result.scenario
    return {
        "scenario": scenario.name,
        "path": scenario.path,
        "account": scenario.account,
        "region": scenario.region,
        "passed": result.passed,
        "summary": summary_counts(result),
        "notes": list(result.notes),
        "steps": [_step_json(step) for step in result.steps],
    }


def _step_json(step: StepResult) -> dict[str, Any]:
    s = step.step
    return {
        "id": s.id,
        "line": s.line,
        "as": s.principal,
        "principal_arn": step.principal_arn,
        "op": s.operation,
        "expected": {"outcome": s.expect.outcome, "decision": s.expect.decision},
        "status": step.status.value,
        "outcome": step.outcome,
        "decision": step.decision,
        "reason": step.reason,
        "message": step.message,
        "outputs": dict(step.outputs),
        "trace": [
            {
                "source": e.source,
                "statement": e.statement,
                "effect": e.effect,
                "matched": e.matched,
                "reason": e.reason,
            }
            for e in step.trace
        ],
    }


def render_json(results: Sequence[ScenarioResult]) -> str:
    document = {"version": 1, "scenarios": [result_json(r) for r in results]}
    return json.dumps(document, indent=2) + "\n"


def render_junit(results: Sequence[ScenarioResult]) -> str:
    """One testsuite per scenario, one testcase per step. An unresolved step is a failure, not a
    skip: a CI gate must not turn green on a decision nobody could make."""
    root = ElementTree.Element("testsuites", {"name": "kmsguard verify"})
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for result in results:
        suite = ElementTree.SubElement(root, "testsuite", {"name": xml_text(result.scenario.name)})
        counts = {"tests": len(result.steps), "failures": 0, "errors": 0}
        for step in result.steps:
            case = ElementTree.SubElement(
                suite,
                "testcase",
                {
                    "classname": xml_text(f"kmsguard.verify.{result.scenario.name}"),
                    "name": xml_text(step.step.id),
                },
            )
            lines = "\n".join(line.strip() for line in _step_lines(result.scenario.path, step))
            if not step.passed:
                kind = "error" if step.status in (Status.ERROR, Status.BLOCKED) else "failure"
                counts["errors" if kind == "error" else "failures"] += 1
                message = f"expected {step.step.expect.describe()}; got {actual_text(step)}"
                attributes = {"message": xml_text(message), "type": step.status.value}
                ElementTree.SubElement(case, kind, attributes).text = xml_text(lines)
            # Every step's lines, passing ones too, so a CI page shows what was verified (after
            # failure / error: the order of the JUnit schema).
            ElementTree.SubElement(case, "system-out").text = xml_text(lines)
        for name, value in counts.items():
            suite.set(name, str(value))
            totals[name] += value
    for name, value in totals.items():
        root.set(name, str(value))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
