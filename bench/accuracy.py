"""Accuracy on the labelled fixtures: kmsguard, Checkov and cfripper, precision and recall per label.

    python bench/accuracy.py [--output docs/accuracy.md] [--peers-venv DIR] [--cfripper-venv DIR]
                             [--kmsguard-only]

The truth is fixtures/labelled/labels.yaml: for each case (a Terraform folder, a CloudFormation
template or a policy JSON file) the issues a security engineer expects, as labels that map to
kmsguard rule ids and to the peers' check ids. Each tool is scored on the cases it can read:
kmsguard on all of them, Checkov on Terraform and CloudFormation, cfripper on CloudFormation.
kmsguard runs from this interpreter's environment; the peers from virtualenvs of their own outside
the repository (created on first use, versions pinned). tests/test_accuracy.py uses the loading and
scoring half of this module to hold kmsguard at 100% on every label whose rule exists.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "fixtures" / "labelled"
MANIFEST = FIXTURES / "labels.yaml"
ACCURACY_DOC = REPO_ROOT / "docs" / "accuracy.md"

KIND_TERRAFORM = "terraform"
KIND_CLOUDFORMATION = "cloudformation"
KIND_POLICY = "policy"
KINDS = (KIND_TERRAFORM, KIND_CLOUDFORMATION, KIND_POLICY)

# kmsguard: 0 = no finding, 1 = findings; 2 would mean a fixture it cannot read.
KMSGUARD_EXIT_CODES = frozenset({0, 1})
# checkov: 0 = all checks passed, 1 = some check failed.
CHECKOV_EXIT_CODES = frozenset({0, 1})
# cfripper: 0 = all templates valid, 2 = some template failed a rule; 1 and 3 are errors.
CFRIPPER_EXIT_CODES = frozenset({0, 2})

CFRIPPER_VERSION = "1.22.1"
# cfripper gets a virtualenv of its own: its pins (pycfmodel, boto3, pydantic) move independently
# of checkov's, and one tool per venv keeps both pins installable.
DEFAULT_CFRIPPER_VENV = Path.home() / ".cache" / "kmsguard-bench" / "cfripper-venv"

# Peer check -> the labels it speaks to. A finding counts for the first of its labels that the case
# expects, else as a false positive of the first one. A check mapped to () is KMS-related but
# matches no label (counted under "other findings", never in precision or recall).
# Ids: checkov 3.3.30, checkov/terraform/checks/resource/aws/{KMSRotation,KMSKeyWildcardPrincipal,
# KMSKeyIsEnabled}.py, checkov/cloudformation/checks/resource/aws/{KMSRotation,
# KMSKeyWildCardPrincipal}.py, checkov/terraform/checks/graph_checks/aws/KmsKeyPolicyIsDefined.yaml.
CHECKOV_CHECKS: dict[str, tuple[str, ...]] = {
    "CKV_AWS_7": ("rotation-off",),
    "CKV_AWS_33": ("public",),
    # "Ensure KMS key is enabled": flags every disabled key, used or not.
    "CKV_AWS_227": ("disabled-key-in-use",),
    # "Ensure KMS key Policy is defined": flags keys on the AWS default key policy, which the
    # labels say is never an issue.
    "CKV2_AWS_64": (),
}
CHECKOV_KINDS = (KIND_TERRAFORM, KIND_CLOUDFORMATION)
# cfripper 1.22.1, cfripper/rules/{kms_key_wildcard_principal,kms_key_rotation_enabled,
# cross_account_trust}.py. Its cross-account rules fire for "*" too, so they speak to either label.
CFRIPPER_RULES: dict[str, tuple[str, ...]] = {
    "KMSKeyWildcardPrincipalRule": ("public",),
    "KMSKeyCrossAccountTrustRule": ("external", "public"),
    "GenericCrossAccountTrustRule": ("external", "public"),
    "KMSKeyEnabledKeyRotation": ("rotation-off",),
}
CFRIPPER_KINDS = (KIND_CLOUDFORMATION,)


class ManifestError(Exception):
    """labels.yaml is inconsistent (unknown label or source, a label both expected and not)."""


class ToolRunError(Exception):
    """A tool failed to run on the fixtures, or its output could not be read."""


@dataclass(frozen=True)
class LabelDef:
    name: str
    rules: tuple[str, ...]
    pending: str | None
    meaning: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    """One labelled input: a Terraform folder, a CloudFormation template or a policy file."""

    path: str  # relative to FIXTURES, with "/" separators
    kind: str
    keys: int
    expect: frozenset[str]
    expect_not: frozenset[str]
    sources: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Manifest:
    labels: Mapping[str, LabelDef]
    cases: tuple[Case, ...]
    sources: Mapping[str, str]
    run_args: tuple[str, ...]

    def label_for_rule(self) -> dict[str, tuple[str, ...]]:
        """kmsguard rule id -> the label it reports (one label per rule)."""
        return {rule: (label.name,) for label in self.labels.values() for rule in label.rules}

    def cases_of(self, kinds: Iterable[str]) -> tuple[Case, ...]:
        wanted = set(kinds)
        return tuple(case for case in self.cases if case.kind in wanted)


@dataclass(frozen=True)
class Observation:
    """One finding of one tool, attributed to a case (None: on a file no case covers)."""

    tool: str
    check_id: str
    case: str | None
    location: str


@dataclass(frozen=True)
class LabelScore:
    label: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float | None:
        reported = self.true_positives + self.false_positives
        return None if reported == 0 else self.true_positives / reported

    @property
    def recall(self) -> float | None:
        expected = self.true_positives + self.false_negatives
        return None if expected == 0 else self.true_positives / expected

    @property
    def is_perfect(self) -> bool:
        return self.false_positives == 0 and self.false_negatives == 0


@dataclass(frozen=True)
class Disagreement:
    """A case where a tool's labels differ from the truth: what it missed and what it added."""

    case: str
    missed: frozenset[str]
    extra: frozenset[str]
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Score:
    tool: str
    kinds: tuple[str, ...]
    case_count: int
    labels: Mapping[str, LabelScore]
    disagreements: tuple[Disagreement, ...]
    unmapped: tuple[Observation, ...]  # findings whose check maps to no label or no case
    checked_labels: frozenset[str]  # labels some check of the tool speaks to

    def overall(self, labels: Iterable[str]) -> LabelScore:
        chosen = [self.labels[name] for name in labels if name in self.labels]
        return LabelScore(
            "overall",
            sum(score.true_positives for score in chosen),
            sum(score.false_positives for score in chosen),
            sum(score.false_negatives for score in chosen),
        )

    def disagreements_for(self, label: str) -> tuple[Disagreement, ...]:
        return tuple(d for d in self.disagreements if label in d.missed or label in d.extra)


# ------------------------------------------------------------------------------------- manifest


def load_manifest(path: Path = MANIFEST) -> Manifest:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    sources: dict[str, str] = {str(k): str(v) for k, v in raw["sources"].items()}
    labels = {name: _label_def(name, body) for name, body in raw["labels"].items()}
    cases = tuple(_case(entry) for entry in raw["cases"])
    _check_manifest(labels, cases, sources)
    return Manifest(labels, cases, sources, tuple(str(arg) for arg in raw["run"]["args"]))


def _label_def(name: str, body: Mapping[str, Any]) -> LabelDef:
    return LabelDef(
        name=name,
        rules=tuple(body["rules"]),
        pending=body.get("pending"),
        meaning=str(body.get("meaning", "")),
        sources=tuple(body.get("source", ())),
    )


def _case(entry: Mapping[str, Any]) -> Case:
    path = str(entry["case"])
    return Case(
        path=path,
        kind=path.split("/", 1)[0],
        keys=int(entry["keys"]),
        expect=frozenset(entry.get("expect", ())),
        expect_not=frozenset(entry.get("not", ())),
        sources=tuple(entry.get("source", ())),
        note=str(entry.get("note", "")),
    )


def _check_manifest(
    labels: Mapping[str, LabelDef], cases: Sequence[Case], sources: Mapping[str, str]
) -> None:
    problems: list[str] = []
    seen_rules: dict[str, str] = {}
    for label in labels.values():
        problems += [f"label {label.name}: unknown source {s}" for s in label.sources if s not in sources]
        if not label.sources:
            problems.append(f"label {label.name}: no source")
        if label.pending is not None and label.pending not in label.rules:
            problems.append(f"label {label.name}: pending {label.pending} is not one of its rules")
        for rule in label.rules:
            if rule in seen_rules:
                problems.append(f"rule {rule} is in labels {seen_rules[rule]} and {label.name}")
            seen_rules[rule] = label.name
    seen_paths: set[str] = set()
    for case in cases:
        if case.kind not in KINDS:
            problems.append(f"case {case.path}: kind {case.kind} is none of {', '.join(KINDS)}")
        if case.path in seen_paths:
            problems.append(f"case {case.path} appears twice")
        seen_paths.add(case.path)
        for name in sorted(case.expect | case.expect_not):
            if name not in labels:
                problems.append(f"case {case.path}: unknown label {name}")
        if case.expect & case.expect_not:
            problems.append(
                f"case {case.path}: {sorted(case.expect & case.expect_not)} both expected and not"
            )
        if not case.sources:
            problems.append(f"case {case.path}: no source")
        problems += [f"case {case.path}: unknown source {s}" for s in case.sources if s not in sources]
    if problems:
        raise ManifestError("; ".join(problems))


def case_for_path(cases: Sequence[Case], relative_path: str) -> Case | None:
    """The case a file belongs to: the case's own file, or a file inside the case's folder."""
    for case in cases:
        if relative_path == case.path or relative_path.startswith(case.path + "/"):
            return case
    return None


def relative_to_fixtures(path: str, cwd: Path) -> str:
    absolute = (cwd / path.lstrip("/")) if not Path(path).is_absolute() else Path(path)
    try:
        return absolute.resolve().relative_to(FIXTURES.resolve()).as_posix()
    except ValueError:
        return path


# ------------------------------------------------------------------------------------- scoring


def score(
    tool: str,
    manifest: Manifest,
    observations: Sequence[Observation],
    check_labels: Mapping[str, tuple[str, ...]],
    kinds: Sequence[str] = KINDS,
) -> Score:
    """Precision and recall per label of ``tool`` on the cases of ``kinds``.

    A case is positive for a label when any finding on it claims the label (several findings for
    one label on one case count once): the unit is "the issue on this key", as a reviewer sees it."""
    cases = manifest.cases_of(kinds)
    case_paths = {case.path for case in cases}
    claimed: dict[str, set[str]] = {case.path: set() for case in cases}
    checks_on_case: dict[str, set[str]] = {case.path: set() for case in cases}
    unmapped: list[Observation] = []
    expected_by_case = {case.path: case.expect for case in cases}
    for observation in observations:
        labels = check_labels.get(observation.check_id, ())
        if observation.case is not None and observation.case not in case_paths:
            continue  # a case of another input kind: outside this score's scope
        if observation.case is None or not labels:
            unmapped.append(observation)
            continue
        expected = expected_by_case[observation.case]
        claimed[observation.case].add(next((name for name in labels if name in expected), labels[0]))
        checks_on_case[observation.case].add(observation.check_id)
    label_scores = {
        name: _label_score(name, cases, claimed)
        for name in manifest.labels
        if _label_in_scope(name, cases, claimed)
    }
    disagreements = tuple(
        Disagreement(
            case.path,
            frozenset(case.expect - claimed[case.path]),
            frozenset(claimed[case.path] - case.expect),
            tuple(sorted(checks_on_case[case.path])),
        )
        for case in cases
        if claimed[case.path] != case.expect
    )
    checked = frozenset(name for labels in check_labels.values() for name in labels)
    return Score(tool, tuple(kinds), len(cases), label_scores, disagreements, tuple(unmapped), checked)


def _label_in_scope(name: str, cases: Sequence[Case], claimed: Mapping[str, set[str]]) -> bool:
    return any(name in case.expect or name in claimed[case.path] for case in cases)


def _label_score(name: str, cases: Sequence[Case], claimed: Mapping[str, set[str]]) -> LabelScore:
    tp = sum(1 for case in cases if name in case.expect and name in claimed[case.path])
    fp = sum(1 for case in cases if name not in case.expect and name in claimed[case.path])
    fn = sum(1 for case in cases if name in case.expect and name not in claimed[case.path])
    return LabelScore(name, tp, fp, fn)


# ------------------------------------------------------------------------------------- kmsguard


def run_kmsguard(manifest: Manifest, python: str = sys.executable) -> list[Observation]:
    """kmsguard's findings on every fixture, in one run over the folder (as a CI gate runs it)."""
    argv = [python, "-m", "kmsguard", "check", str(FIXTURES), "--format", "json", *manifest.run_args]
    completed = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if completed.returncode not in KMSGUARD_EXIT_CODES:
        raise ToolRunError(f"kmsguard exited {completed.returncode}: {completed.stderr.strip()[-2000:]}")
    return kmsguard_observations(json.loads(completed.stdout), manifest.cases, REPO_ROOT)


def kmsguard_observations(report: Mapping[str, Any], cases: Sequence[Case], cwd: Path) -> list[Observation]:
    if report.get("errors"):
        # An input error on a fixture is a fixture kmsguard cannot read: the score would be a lie.
        raise ToolRunError(f"kmsguard reported input errors: {report['errors']}")
    observations = []
    for finding in report["findings"]:
        if finding.get("suppressed"):
            continue
        path = relative_to_fixtures(finding["path"], cwd)
        case = case_for_path(cases, path)
        location = f"{path}:{finding.get('line')} {finding.get('resource', '')}".strip()
        observations.append(
            Observation("kmsguard", finding["rule_id"], case.path if case else None, location)
        )
    return observations


def kmsguard_rule_ids(python: str = sys.executable) -> list[str]:
    """The ids of the rules of kmsguard's default pack, as `kmsguard rules` lists them."""
    argv = [python, "-m", "kmsguard", "rules", "--format", "json"]
    completed = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if completed.returncode != 0:
        raise ToolRunError(
            f"kmsguard rules exited {completed.returncode}: {completed.stderr.strip()[-2000:]}"
        )
    return [str(rule["id"]) for rule in json.loads(completed.stdout)]


# ------------------------------------------------------------------------------------- peers


def checkov_observations(report: Any, kind_dir: Path, cases: Sequence[Case]) -> list[Observation]:
    """Checkov's failed checks (its `-o json` report, one framework or a list of them)."""
    reports = report if isinstance(report, list) else [report]
    observations = []
    for one in reports:
        for failed in one.get("results", {}).get("failed_checks", []):
            # file_abs_path is absolute for Terraform; for CloudFormation it can be the path relative
            # to -d with a leading "/", like file_path.
            absolute = failed.get("file_abs_path") or ""
            if not Path(absolute).is_file():
                absolute = str(kind_dir / failed["file_path"].lstrip("/"))
            path = relative_to_fixtures(absolute, kind_dir)
            case = case_for_path(cases, path)
            location = f"{path}:{failed.get('file_line_range', [''])[0]} {failed.get('resource', '')}".strip()
            observations.append(
                Observation("checkov", failed["check_id"], case.path if case else None, location)
            )
    return observations


def cfripper_observations(
    result: Mapping[str, Any], template: str, cases: Sequence[Case]
) -> list[Observation]:
    """cfripper's failures and warnings for one template (its `--format json` result file)."""
    case = case_for_path(cases, template)
    return [
        Observation(
            "cfripper", entry["rule"], case.path if case else None, f"{template} {entry.get('resource_ids')}"
        )
        for entry in [*result.get("failures", []), *result.get("warnings", [])]
    ]


def run_checkov(checkov: Path, manifest: Manifest) -> list[Observation]:
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    observations: list[Observation] = []
    for kind in CHECKOV_KINDS:
        argv = [
            str(checkov),
            "-d",
            kind,
            "--framework",
            kind,
            "--check",
            ",".join(CHECKOV_CHECKS),
            "--skip-download",  # no network: no guideline download
            "-o",
            "json",
        ]
        completed = subprocess.run(argv, capture_output=True, text=True, cwd=FIXTURES, env=env, check=False)
        if completed.returncode not in CHECKOV_EXIT_CODES:
            raise ToolRunError(f"checkov ({kind}) exited {completed.returncode}: {completed.stderr[-2000:]}")
        observations += checkov_observations(json.loads(completed.stdout), FIXTURES / kind, manifest.cases)
    return observations


def run_cfripper(cfripper: Path, manifest: Manifest) -> list[Observation]:
    templates = [case.path.split("/", 1)[1] for case in manifest.cases_of(CFRIPPER_KINDS)]
    template_dir = FIXTURES / KIND_CLOUDFORMATION
    with tempfile.TemporaryDirectory(prefix="kmsguard-cfripper-") as work:
        # cfripper resolves AWS::AccountId to 123456789012 unless told otherwise, which would turn
        # every `!Sub arn:aws:iam::${AWS::AccountId}:root` into a cross-account principal.
        parameters = Path(work) / "parameters.json"
        parameters.write_text(
            json.dumps({"AWS::AccountId": _run_account(manifest), "AWS::Region": "us-east-1"})
        )
        output = Path(work) / "out"
        output.mkdir()
        argv = [
            str(cfripper),
            *templates,
            "--format",
            "json",
            "--resolve",
            "--resolve-parameters",
            str(parameters),
            "--aws-account-id",
            _run_account(manifest),
            "--output-folder",
            str(output),
        ]
        completed = subprocess.run(argv, capture_output=True, text=True, cwd=template_dir, check=False)
        if completed.returncode not in CFRIPPER_EXIT_CODES:
            raise ToolRunError(f"cfripper exited {completed.returncode}: {completed.stderr[-2000:]}")
        observations: list[Observation] = []
        for template in templates:
            result_file = output / f"{template}.cfripper.results.json"
            if not result_file.exists():
                raise ToolRunError(f"cfripper wrote no result for {template}")
            result = json.loads(result_file.read_text(encoding="utf-8"))
            observations += cfripper_observations(result, f"{KIND_CLOUDFORMATION}/{template}", manifest.cases)
    return observations


def _run_account(manifest: Manifest) -> str:
    args = list(manifest.run_args)
    return args[args.index("--account") + 1]


def ensure_cfripper_venv(venv: Path, log: Callable[[str], None] = print) -> Path:
    """The cfripper executable of ``venv``, (re)installing the pinned version if it is not there."""
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    executable = venv / ("Scripts" if sys.platform == "win32" else "bin") / "cfripper"
    if _installed_version(python, "cfripper") != CFRIPPER_VERSION:
        log(f"installing cfripper=={CFRIPPER_VERSION} into {venv} (once; later runs reuse it)")
        if not python.exists():
            _run_or_raise(
                [sys.executable, "-m", "venv", "--clear", str(venv)], "create the cfripper virtualenv"
            )
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run_or_raise([*pip, f"cfripper=={CFRIPPER_VERSION}"], "install cfripper")
        if _installed_version(python, "cfripper") != CFRIPPER_VERSION:
            raise ToolRunError(f"{venv} does not hold cfripper=={CFRIPPER_VERSION} after installing")
    return executable


def _installed_version(python: Path, package: str) -> str | None:
    if not python.exists():
        return None
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    completed = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return completed.stdout.strip() if completed.returncode == 0 else None


def _run_or_raise(argv: list[str], purpose: str) -> None:
    completed = subprocess.run(argv, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-10:])
        raise ToolRunError(f"could not {purpose} ({' '.join(argv)}):\n{tail}")


# ------------------------------------------------------------------------------------- report


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def cell(score: Score, label: str) -> str:
    """ "P / R" of one tool for one label; "no check" when the tool has none for an expected label."""
    result = score.labels.get(label)
    if result is None:
        return "·"  # no case of this tool's scope expects the label, and the tool never claims it
    if label not in score.checked_labels:
        return f"no check (0/{result.false_negatives})"
    return f"{percent(result.precision)} / {percent(result.recall)}"


def side_by_side_table(manifest: Manifest, scores: Sequence[Score]) -> str:
    """Markdown: one row per label (precision / recall per tool), then overall rows."""
    header = "| label | " + " | ".join(
        f"{s.tool} ({_scope_name(s.kinds)}, {s.case_count} cases)" for s in scores
    )
    lines = [header + " |", "| --- |" + " --- |" * len(scores)]
    shown = [name for name in manifest.labels if any(name in s.labels for s in scores)]
    for name in shown:
        pending = manifest.labels[name].pending
        title = f"`{name}`" + (f" (rule {pending} pending)" if pending else "")
        lines.append(f"| {title} | " + " | ".join(cell(s, name) for s in scores) + " |")
    enforced = [name for name in shown if manifest.labels[name].pending is None]
    for title, names in (
        ("**overall, labels with a kmsguard rule today**", enforced),
        ("**overall, all labels**", shown),
    ):
        overall = [s.overall(names) for s in scores]
        lines.append(
            f"| {title} | "
            + " | ".join(f"{percent(o.precision)} / {percent(o.recall)}" for o in overall)
            + " |"
        )
    lines.append("| findings outside the labels | " + " | ".join(str(len(s.unmapped)) for s in scores) + " |")
    return "\n".join(lines)


def disagreement_table(score: Score, labels: Iterable[str] | None = None) -> str:
    """Markdown: the cases where ``score``'s tool differs from the truth (for ``labels``, or all)."""
    wanted = None if labels is None else set(labels)
    rows = [d for d in score.disagreements if wanted is None or (d.missed | d.extra) & wanted]
    if not rows:
        return "(none)"
    lines = [
        "| case | missed (false negatives) | reported wrongly (false positives) | checks that fired |",
        "| --- | --- | --- | --- |",
    ]
    for d in rows:
        missed = ", ".join(sorted(d.missed if wanted is None else d.missed & wanted)) or "-"
        extra = ", ".join(sorted(d.extra if wanted is None else d.extra & wanted)) or "-"
        lines.append(f"| {d.case} | {missed} | {extra} | {', '.join(d.checks) or '-'} |")
    return "\n".join(lines)


def _scope_name(kinds: Sequence[str]) -> str:
    if tuple(kinds) == KINDS:
        return "all"
    short = {KIND_TERRAFORM: "TF", KIND_CLOUDFORMATION: "CFN", KIND_POLICY: "JSON"}
    return "+".join(short[kind] for kind in kinds)


def accuracy_document(manifest: Manifest, scores: Sequence[Score], versions: Mapping[str, str]) -> str:
    kinds_count = {kind: len(manifest.cases_of([kind])) for kind in KINDS}
    keys = sum(case.keys for case in manifest.cases)
    kmsguard_score = next(s for s in scores if s.tool == "kmsguard" and tuple(s.kinds) == KINDS)
    peers = ", ".join(f"{name} {version}" for name, version in versions.items())
    sections = [
        "# Accuracy on labelled fixtures",
        "",
        "<!-- Written by `python bench/accuracy.py`; edit that script, not this file. -->",
        "",
        f"`fixtures/labelled/` holds {len(manifest.cases)} labelled cases ({kinds_count[KIND_TERRAFORM]} "
        f"Terraform folders, {kinds_count[KIND_CLOUDFORMATION]} CloudFormation templates, "
        f"{kinds_count[KIND_POLICY]} policy JSON files; {keys} KMS keys). `labels.yaml` gives, for each "
        "case, the issues a security engineer expects (labels that map to kmsguard rule ids) and the "
        "negatives the case is there to test, each with the AWS documentation behind it.",
        "",
        "Each tool is scored on the cases it reads: kmsguard on all of them, Checkov on Terraform and "
        "CloudFormation, cfripper on CloudFormation. A case counts once per label however many findings "
        "a tool makes for it. Cells are **precision / recall**; `no check (0/N)`: the tool has no check "
        "for the label and misses its N cases; `·`: no case in the tool's scope has the label and the "
        "tool never reports it. kmsguard runs with `" + " ".join(manifest.run_args) + "`; cfripper with "
        "the same account bound to `AWS::AccountId` (without it, cfripper resolves the account to "
        "123456789012 and reports every default key policy as cross-account).",
        "",
        f"Tools: kmsguard from this repository, {peers}.",
        "",
        "## Results",
        "",
        side_by_side_table(manifest, scores),
        "",
        "Peer checks and the labels they were scored against: "
        + "; ".join(
            f"Checkov `{c}` → {', '.join(names) or 'no label'}" for c, names in CHECKOV_CHECKS.items()
        )
        + "; "
        + "; ".join(f"cfripper `{c}` → {', '.join(names)}" for c, names in CFRIPPER_RULES.items())
        + " (other cfripper rules, such as `GenericResourceWildcardPolicyRule` on the `kms:*` of the "
        "default key policy, are counted under *findings outside the labels*).",
        "",
        "## Where kmsguard disagrees with the labels",
        "",
        disagreement_table(kmsguard_score),
        "",
        "Rows on a label marked *pending* are rules other work is adding; tests/test_accuracy.py reports "
        "them as expected failures until the label's `pending:` is removed, and holds every other label "
        "at 100% precision and recall.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "python bench/accuracy.py                 # installs the peers on first use, rewrites this file",
        "python bench/accuracy.py --kmsguard-only # no peers",
        "python -m pytest tests/test_accuracy.py  # kmsguard's side, offline",
        "```",
        "",
        "Checkov and cfn-lint live in `~/.cache/kmsguard-bench/peers-venv` (shared with bench/run.py), "
        "cfripper in `~/.cache/kmsguard-bench/cfripper-venv`; both outside the repository, versions pinned "
        "in bench/peers.py and bench/accuracy.py.",
        "",
    ]
    return "\n".join(sections)


# ------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ACCURACY_DOC, help="markdown file to write")
    parser.add_argument("--peers-venv", type=Path, default=None, help="Checkov's virtualenv (bench/peers.py)")
    parser.add_argument("--cfripper-venv", type=Path, default=DEFAULT_CFRIPPER_VENV)
    parser.add_argument("--kmsguard-only", action="store_true", help="do not install or run the peers")
    options = parser.parse_args(argv)

    manifest = load_manifest()
    kmsguard_checks = manifest.label_for_rule()
    kmsguard_found = run_kmsguard(manifest)
    scores = [score("kmsguard", manifest, kmsguard_found, kmsguard_checks)]
    versions: dict[str, str] = {}
    if not options.kmsguard_only:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from peers import CHECKOV_VERSION, DEFAULT_PEERS_VENV, ensure_peers_venv

        peer_env = ensure_peers_venv(options.peers_venv or DEFAULT_PEERS_VENV)
        cfripper = ensure_cfripper_venv(options.cfripper_venv)
        versions = {"Checkov": CHECKOV_VERSION, "cfripper": CFRIPPER_VERSION}
        checkov_found = run_checkov(peer_env.executable("checkov"), manifest)
        cfripper_found = run_cfripper(cfripper, manifest)
        scores += [
            score("kmsguard", manifest, kmsguard_found, kmsguard_checks, CHECKOV_KINDS),
            score("Checkov", manifest, checkov_found, CHECKOV_CHECKS, CHECKOV_KINDS),
            score("kmsguard", manifest, kmsguard_found, kmsguard_checks, CFRIPPER_KINDS),
            score("cfripper", manifest, cfripper_found, CFRIPPER_RULES, CFRIPPER_KINDS),
        ]
    document = accuracy_document(manifest, scores, versions)
    options.output.write_text(document, encoding="utf-8")
    print(side_by_side_table(manifest, scores))
    print(f"\nwritten to {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
