"""What analyses hand to reports: findings, loader diagnostics, input errors, suppressions."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from kmsguard.model.span import Span


class Severity(str, Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.strip().lower())
        except ValueError:
            choices = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose from {choices})") from None


_RANK = {Severity.INFO: 0, Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


CATEGORIES = (
    "exposure",
    "rotation",
    "lifecycle",
    "grant",
    "encryption-at-rest",
    "integration",
    "validity",
    "hygiene",
)


@dataclass(frozen=True)
class Diagnostic:
    """A problem a loader found in an input it could read: the input is valid enough to analyse,
    but AWS would reject or misread part of it (a policy grammar error...). Becomes a finding of
    the rule whose id it carries."""

    rule_id: str
    message: str
    span: Span
    resource: str = ""
    context: str = ""  # a stable name for the element (statement sid/index), for fingerprints


@dataclass(frozen=True)
class InputError:
    """An input that could not be read at all: exit code 2, one line, other files go on."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Suppression:
    """``# kmsguard:ignore[KMS001] reason`` or CloudFormation ``Metadata: kmsguard: ignore:``.

    It silences findings of ``rule_ids`` (empty: every rule) whose line lies in
    ``[first_line, last_line]`` of ``path``."""

    path: str
    line: int
    rule_ids: tuple[str, ...]
    reason: str
    first_line: int
    last_line: int

    def covers(self, rule_id: str, span: Span) -> bool:
        if span.path != self.path:
            return False
        if self.rule_ids and rule_id not in self.rule_ids:
            return False
        return self.first_line <= span.line <= self.last_line


@dataclass(frozen=True)
class Witness:
    """A concrete request behind a finding: one the prover found and the simulator confirmed, for
    the answer the rule did not want ("a stranger calling kms:Decrypt with ...")."""

    text: str  # the request in words, as the finding's message quotes it
    principal: str = ""
    action: str = ""
    resource: str = ""
    context: tuple[tuple[str, str], ...] = ()  # request context keys and their values, in order
    note: str = ""  # what else the request needs ("its own account's IAM policy allowing")


@dataclass(frozen=True)
class Finding:
    rule_id: str
    title: str
    severity: Severity
    category: str
    message: str
    span: Span
    resource: str = ""
    context: str = ""
    unresolved: tuple[str, ...] = ()
    remediation: str = ""
    help_uri: str = ""
    suppressed_by: Suppression | None = field(default=None, compare=False)
    # Evidence, not identity: the same finding with another witness is the same finding.
    witness: Witness | None = field(default=None, compare=False)

    @property
    def fingerprint(self) -> str:
        """Identity that survives edits which only move lines: rule, file, resource and element."""
        import hashlib
        import os.path

        path = os.path.normpath(self.span.path).replace(os.sep, "/")
        basis = "\x1f".join((self.rule_id, path, self.resource, self.context, self.message))
        return hashlib.sha256(basis.encode()).hexdigest()[:32]

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.span.path, self.span.line, self.span.col, self.rule_id)
