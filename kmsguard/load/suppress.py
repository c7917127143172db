"""Inline suppressions: ``# kmsguard:ignore[KMS001,KMS002] reason`` in HCL and YAML comments.

Scope: a comment on a resource's first line, or in the comment block directly above it, silences
the whole resource; any other comment silences its own line and the next line. A suppression
without a reason is itself a finding (KMS900), so every exception stays explained.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kmsguard.findings import Diagnostic, Suppression
from kmsguard.model.span import Span

RULE_SUPPRESSION_WITHOUT_REASON = "KMS900"

_COMMENT = re.compile(
    r"(?:#|//)\s*kmsguard:\s*ignore(?:\[(?P<ids>[^\]]*)\])?(?P<reason>[^\n]*)", re.IGNORECASE
)
_RULE_ID = re.compile(r"^KMS\d{3}$")


def parse_rule_ids(text: str) -> tuple[str, ...]:
    return tuple(part.strip().upper() for part in text.split(",") if part.strip())


def comment_suppressions(
    path: str, text: str, resource_ranges: Sequence[tuple[int, int]] = ()
) -> tuple[list[Suppression], list[Diagnostic]]:
    """Scan ``text`` for suppression comments. ``resource_ranges`` are the (first, last) lines of
    the file's resources, so a comment above or on a resource header covers all of it."""
    if "kmsguard" not in text:
        return [], []
    lines = text.splitlines()
    starts = {first: last for first, last in resource_ranges}
    suppressions: list[Suppression] = []
    diagnostics: list[Diagnostic] = []
    for index, line in enumerate(lines):
        match = _COMMENT.search(line)
        if not match:
            continue
        lineno = index + 1
        ids = parse_rule_ids(match.group("ids") or "")
        reason = match.group("reason").strip().lstrip(":-").strip()
        span = Span(path, lineno, match.start() + 1)
        bad = [i for i in ids if not _RULE_ID.match(i)]
        if bad:
            diagnostics.append(
                Diagnostic(
                    RULE_SUPPRESSION_WITHOUT_REASON,
                    f"suppression names unknown rule id(s) {', '.join(bad)}",
                    span,
                    context=f"suppress:{line.strip()}",
                )
            )
        if not reason:
            diagnostics.append(
                Diagnostic(
                    RULE_SUPPRESSION_WITHOUT_REASON,
                    "suppression has no reason: write why after the rule ids",
                    span,
                    context=f"suppress:{line.strip()}",
                )
            )
            continue
        first, last = lineno, lineno + 1
        if lineno in starts:
            first, last = lineno, starts[lineno]
        else:
            # A comment block directly above a resource header covers the resource.
            probe = index + 1
            while probe < len(lines) and lines[probe].lstrip().startswith(("#", "//")):
                probe += 1
            if probe + 1 in starts and line.lstrip().startswith(("#", "//")):
                first, last = lineno, starts[probe + 1]
        suppressions.append(Suppression(path, lineno, ids, reason, first, last))
    return suppressions, diagnostics
