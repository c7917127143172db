"""The HTML report: one self-contained page a security engineer reads instead of JSON.

Keys and resources ranked by risk; for each, its findings with the request that proves them, the
conditions under which its key policy allows access ("allowed iff aws:PrincipalOrgID = o-..."),
and its blast radius (the resources that encrypt with it); then input errors and suppressed
findings.

The page loads nothing: CSS and the small filter script are inline, and a Content-Security-Policy
forbids every other load and every script but that one (by hash), so even a string that escaped
escaping could not run. Every string from the input is escaped, with control and bidirectional
characters made visible as the text report does. The same input always gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING

from kmsguard.findings import Finding, InputError, Severity, Witness
from kmsguard.model import (
    Condition,
    Grant,
    Inventory,
    Key,
    KeyConsumer,
    Policy,
    Principal,
    PrincipalType,
    StandalonePolicy,
    Statement,
    Unknown,
)
from kmsguard.model.policy import ConditionValue, Elements
from kmsguard.report import (
    SEVERITIES_DESCENDING,
    TOOL_NAME,
    ReportInput,
    SourceIndex,
    active_findings,
    sorted_errors,
    summarize,
    suppressed_findings,
)
from kmsguard.report.text import printable

if TYPE_CHECKING:
    from kmsguard.rules_engine.key_links import KeyLink, KeyLinks

# How much one finding of each severity adds to a key's risk: the lower bounds of CVSS v3's
# severity bands (critical 9.0, high 7.0, medium 4.0, low 0.1), scaled to integers.
SEVERITY_WEIGHT = {
    Severity.CRITICAL: 90,
    Severity.HIGH: 70,
    Severity.MEDIUM: 40,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


# -- what the page shows, computed before any markup ---------------------------------------------


@dataclass(frozen=True)
class RiskItem:
    """One key or resource of the ranking, with its active findings."""

    name: str  # the address or ARN findings name
    kind: str  # "key", "key policy", "resource", "grant" or "input"
    location: str  # file:line, or the ARN / API of live data
    findings: tuple[Finding, ...]
    key: Key | None = None
    policy: Policy | None = None  # the key policy, or a key policy document on its own
    consumer: KeyConsumer | None = None
    grant: Grant | None = None
    users: tuple[KeyConsumer, ...] = ()  # a key's blast radius
    maybe_users: tuple[str, ...] = ()  # what resources whose key is not known statically depend on

    @property
    def score(self) -> int:
        return sum(SEVERITY_WEIGHT[f.severity] for f in self.findings)

    @property
    def worst(self) -> int:
        return max((f.severity.rank for f in self.findings), default=-1)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)


def rank_by_risk(findings: Sequence[Finding], inventory: Inventory | None = None) -> list[RiskItem]:
    """Active findings grouped by the key or resource they name, most risky first: by score (the
    sum of ``SEVERITY_WEIGHT``), then most severe finding, then number of findings, then blast
    radius, then name. Every key of ``inventory`` is listed, those without findings last."""
    return _rank(findings, inventory, _key_links(inventory))


def _rank(findings: Sequence[Finding], inventory: Inventory | None, links: KeyLinks | None) -> list[RiskItem]:
    index = _AddressIndex(inventory) if inventory is not None else None
    groups: dict[tuple[str, int | str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault(_group_of(finding, index), []).append(finding)
    if inventory is not None:
        for position in range(len(inventory.keys)):
            groups.setdefault(("key", position), [])
    items = [_risk_item(group, tuple(members), inventory, links) for group, members in groups.items()]
    return sorted(
        items,
        key=lambda i: (-i.score, -i.worst, -len(i.findings), -len(i.users), i.name, i.location),
    )


class _AddressIndex:
    """Where each address (and key ARN) of an inventory is, per kind of element: findings name
    what they are about by address."""

    KINDS = ("key", "policy", "resource", "grant")

    def __init__(self, inventory: Inventory) -> None:
        elements: dict[str, Sequence[Key | StandalonePolicy | KeyConsumer | Grant]] = {
            "key": inventory.keys,
            "policy": inventory.policies,
            "resource": inventory.consumers,
            "grant": inventory.grants,
        }
        self.paths = {kind: [e.span.path for e in entries] for kind, entries in elements.items()}
        self.positions: dict[str, dict[str, list[int]]] = {kind: {} for kind in self.KINDS}
        for kind, entries in elements.items():
            for position, element in enumerate(entries):
                names = [element.address]
                if isinstance(element, Key) and isinstance(element.arn, str):
                    names.append(element.arn)
                for name in dict.fromkeys(names):
                    self.positions[kind].setdefault(name, []).append(position)


def _group_of(finding: Finding, index: _AddressIndex | None) -> tuple[str, int | str]:
    """("key" | "policy" | "resource" | "grant", position in the inventory), ("other", name), or
    ("input", path) for a finding about a whole input."""
    name = finding.resource
    if not name:
        return ("input", finding.span.path)
    if index is not None:
        for kind in _AddressIndex.KINDS:
            candidates = index.positions[kind].get(name, [])
            position = _nearest(candidates, index.paths[kind], finding.span.path)
            if position is not None:
                return (kind, position)
    return ("other", name)


def _nearest(candidates: list[int], paths: list[str], origin: str) -> int | None:
    """Which of several resources with one address (two templates' logical ids, two Terraform
    roots) a finding written in ``origin`` is about: the one in the same file, else the only one
    in the same folder."""
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    same_file = [i for i in candidates if paths[i] == origin]
    if same_file:
        return same_file[0]
    same_folder = [i for i in candidates if PurePath(paths[i]).parent == PurePath(origin).parent]
    return same_folder[0] if len(same_folder) == 1 else None


def _key_links(inventory: Inventory | None) -> KeyLinks | None:
    if inventory is None:
        return None
    from kmsguard.rules_engine.key_links import KeyLinks

    return KeyLinks(inventory)


def _risk_item(
    group: tuple[str, int | str],
    findings: tuple[Finding, ...],
    inventory: Inventory | None,
    links: KeyLinks | None,
) -> RiskItem:
    kind, ident = group
    if inventory is not None and links is not None and kind == "key":
        key = inventory.keys[int(ident)]
        users, maybe = links.users_of(key)
        policy = key.policy if isinstance(key.policy, Policy) else None
        where = _where_key(key)
        return RiskItem(key.address, "key", where, findings, key, policy, users=users, maybe_users=maybe)
    if inventory is not None and kind == "policy":
        standalone = inventory.policies[int(ident)]
        where = str(standalone.span)
        return RiskItem(standalone.address, "key policy", where, findings, policy=standalone.document)
    if inventory is not None and kind == "resource":
        consumer = inventory.consumers[int(ident)]
        return RiskItem(consumer.address, "resource", str(consumer.span), findings, consumer=consumer)
    if inventory is not None and kind == "grant":
        grant = inventory.grants[int(ident)]
        return RiskItem(grant.address, "grant", str(grant.span), findings, grant=grant)
    if kind == "input":
        return RiskItem(str(ident), "input", str(ident), findings)
    return RiskItem(str(ident), "resource", _first_location(findings), findings)


def _where_key(key: Key) -> str:
    """file:line for a key from IaC; ARN, account and Region for a live key."""
    if key.span.line > 0:
        return str(key.span)
    parts = [str(part) for part in (key.arn, key.account, key.region) if part is not None]
    return " · ".join(dict.fromkeys(parts)) or key.span.path


def _first_location(findings: Sequence[Finding]) -> str:
    return str(min((f.span for f in findings), key=lambda s: (s.path, s.line))) if findings else ""


# -- "allowed iff ...": the conditions under which a statement applies ---------------------------

# Operator (without set qualifier and IfExists) -> (relation to one value, relation to several,
# negated). IAM User Guide, "IAM JSON policy elements: Condition operators".
_RELATIONS: dict[str, tuple[str, str, bool]] = {
    "StringEquals": ("=", "is one of", False),
    "StringNotEquals": ("≠", "is none of", True),
    "StringEqualsIgnoreCase": ("= (ignoring case)", "is one of (ignoring case)", False),
    "StringNotEqualsIgnoreCase": ("≠ (ignoring case)", "is none of (ignoring case)", True),
    "StringLike": ("matches", "matches one of", False),
    "StringNotLike": ("does not match", "matches none of", True),
    "NumericEquals": ("=", "is one of", False),
    "NumericNotEquals": ("≠", "is none of", True),
    "NumericLessThan": ("<", "< one of", False),
    "NumericLessThanEquals": ("≤", "≤ one of", False),
    "NumericGreaterThan": (">", "> one of", False),
    "NumericGreaterThanEquals": ("≥", "≥ one of", False),
    "DateEquals": ("=", "is one of", False),
    "DateNotEquals": ("≠", "is none of", True),
    "DateLessThan": ("is before", "is before one of", False),
    "DateLessThanEquals": ("is at or before", "is at or before one of", False),
    "DateGreaterThan": ("is after", "is after one of", False),
    "DateGreaterThanEquals": ("is at or after", "is at or after one of", False),
    "Bool": ("=", "is one of", False),
    "BinaryEquals": ("=", "is one of", False),
    "IpAddress": ("is in", "is in one of", False),
    "NotIpAddress": ("is not in", "is in none of", True),
    "ArnEquals": ("=", "is one of", False),
    "ArnLike": ("matches", "matches one of", False),
    "ArnNotEquals": ("≠", "is none of", True),
    "ArnNotLike": ("does not match", "matches none of", True),
}


def access_text(statement: Statement) -> str:
    """When ``statement`` applies, in words: "allowed iff aws:PrincipalOrgID = o-a1b2 and
    kms:ViaService = s3.us-east-1.amazonaws.com", "denied unconditionally"..."""
    verb = _effect_verb(statement.effect)
    conditions = statement.conditions
    if isinstance(conditions, Unknown):
        return f"{verb} iff conditions not known statically hold ({conditions})"
    if not conditions:
        return f"{verb} unconditionally"
    return f"{verb} iff " + " and ".join(condition_text(c) for c in conditions)


def _effect_verb(effect: str | Unknown) -> str:
    if effect == "Allow":
        return "allowed"
    if effect == "Deny":
        return "denied"
    # An effect AWS would reject ("allow") or one not known statically: say so, not "allowed".
    return f"effect not known ({effect}): applies"


def condition_text(condition: Condition) -> str:
    """One condition clause in words. Values of a clause are ORed; a key absent from the request
    is spelled out where the operator makes the clause true anyway (IAM User Guide, "Condition
    operators" and "Set operators for multivalued context keys")."""
    key = str(condition.key)
    values = condition.values
    if condition.base_operator == "Null":
        return _null_text(key, values)
    relation = _RELATIONS.get(condition.base_operator)
    if relation is None:  # an operator AWS does not know: say it as written
        return f"{key} {condition.operator} {_values_text(values)}"
    one, several, negated = relation
    if isinstance(values, Unknown):
        clause = f"{key} {several} {values}"
    elif len(values) == 1:
        clause = f"{key} {one} {_value_text(values[0])}"
    else:
        clause = f"{key} {several} {_values_text(values)}"
    qualifier = condition.set_qualifier
    if qualifier == "ForAnyValue":
        clause = "some value of " + clause
    elif qualifier == "ForAllValues":
        clause = "every value of " + clause
    absent_holds = condition.if_exists or qualifier == "ForAllValues" or (qualifier is None and negated)
    return f"{clause} (or {key} is absent)" if absent_holds else clause


def _null_text(key: str, values: tuple[ConditionValue, ...] | Unknown) -> str:
    if isinstance(values, Unknown) or len(values) != 1:
        return f"{key} Null {_values_text(values)}"
    # "Null": true means the key is absent from the request, false that it is present.
    absent = _value_text(values[0]).lower()
    if absent in ("true", "false"):
        return f"{key} is {'absent' if absent == 'true' else 'present'}"
    return f"{key} Null {_value_text(values[0])}"


def _value_text(value: ConditionValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _values_text(values: tuple[ConditionValue, ...] | Unknown) -> str:
    if isinstance(values, Unknown):
        return str(values)
    return "(" + ", ".join(_value_text(v) for v in values) + ")"


def principals_text(statement: Statement) -> str:
    if statement.not_principals is not None:
        return "every principal except " + _principal_list(statement.not_principals)
    if statement.principals is None:
        return "(no principal)"
    return _principal_list(statement.principals)


def _principal_list(principals: tuple[Principal, ...] | Unknown) -> str:
    if isinstance(principals, Unknown):
        return f"not known statically ({principals})"
    return ", ".join(_principal_text(p) for p in principals) or "(none)"


def _principal_text(principal: Principal) -> str:
    if principal.is_wildcard:
        return "everyone (*)"
    if principal.type is PrincipalType.AWS:
        return str(principal.value)
    return f"{principal.value} ({principal.type.value})"


def actions_text(statement: Statement) -> str:
    if statement.not_actions is not None:
        return "every action except " + _element_list(statement.not_actions)
    if statement.actions is None:
        return "(no action)"
    return _element_list(statement.actions)


def _element_list(elements: Elements) -> str:
    if isinstance(elements, Unknown):
        return f"not known statically ({elements})"
    return ", ".join(str(e) for e in elements) or "(none)"


# -- markup ----------------------------------------------------------------------------------------

_STYLE = """
:root{--crit:#7b1fa2;--high:#c62828;--med:#b26a00;--low:#1565c0;--info:#607d8b;--line:#d0d7de}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;
background:#f6f8fa}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 24px}
header{padding-top:20px}h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
h3{font-size:15px;margin:16px 0 6px}.meta{color:#57606a}
.totals{display:flex;gap:8px;flex-wrap:wrap;margin:12px 0}
.total{background:#fff;border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:80px}
.total b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0}
th,td{border:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;
overflow-wrap:anywhere}
.sev{display:inline-block;border-radius:4px;padding:1px 7px;color:#fff;font-size:12px;font-weight:600}
.sev-critical{background:var(--crit)}.sev-high{background:var(--high)}.sev-medium{background:var(--med)}
.sev-low{background:var(--low)}.sev-info{background:var(--info)}
section.item{background:#fff;border:1px solid var(--line);border-radius:8px;padding:4px 16px 12px;
margin:16px 0}
section.item h2{margin-top:12px}
.witness{width:auto;margin:6px 0;font-size:13px}.witness th{width:9em}
.note{color:#57606a;font-size:13px;margin:4px 0}
.src{background:#f6f8fa;border:1px solid var(--line);padding:2px 6px;display:block;margin:4px 0;
white-space:pre-wrap}
#filters{margin:8px 0}#filters label{margin-right:12px}
footer{color:#57606a;padding:24px}
@media print{#filters{display:none}section.item{break-inside:avoid}}
"""

# Hides findings of unticked severities and says how many are shown. Without it, every finding
# is shown and the filters stay hidden.
_SCRIPT = """
(function () {
  var boxes = document.querySelectorAll("#filters input[data-severity]");
  var rows = document.querySelectorAll("tr.finding");
  var status = document.getElementById("shown-count");
  function apply() {
    var on = {};
    boxes.forEach(function (box) { on[box.getAttribute("data-severity")] = box.checked; });
    var shown = 0;
    rows.forEach(function (row) {
      var visible = on[row.getAttribute("data-severity")] !== false;
      row.hidden = !visible;
      if (visible) { shown += 1; }
    });
    status.textContent = "Showing " + shown + " of " + rows.length + " findings";
  }
  boxes.forEach(function (box) { box.addEventListener("change", apply); });
  document.getElementById("filters").hidden = false;
  apply();
})();
"""

_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{_SCRIPT_HASH}'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def _e(text: object) -> str:
    """Escaped for HTML text and attribute values, with control and bidi characters visible."""
    return html.escape(printable(str(text)), quote=True)


@dataclass(frozen=True)
class _Page:
    """What every section of one page reads, built once per page."""

    sources: SourceIndex
    anchors: dict[int, str]  # id() of a key, consumer or grant -> the id of its section
    links: KeyLinks | None
    grants: dict[int, list[Grant]]  # id(key) -> the grants on it


def render_html(report: ReportInput) -> str:
    links = _key_links(report.inventory)
    items = _rank(active_findings(report), report.inventory, links)
    page = _Page(
        SourceIndex(report.sources),
        _anchors(items),
        links,
        _grants_by_key(report.inventory, links),
    )
    parts = [
        _head(),
        _header(report),
        "<main>",
        _ranking(items),
        *(_item_section(item, n, page) for n, item in enumerate(items, 1)),
        _errors_section(sorted_errors(report.errors)),
        _suppressed_section(suppressed_findings(report)),
        "</main>",
        f"<footer>{_e(TOOL_NAME)} {_e(report.tool_version)}</footer>",
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _head() -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>kmsguard report</title>\n"
        f"<style>{_STYLE}</style></head><body>"
    )


def _header(report: ReportInput) -> str:
    summary = summarize(report)
    totals = [f'<div class="total" id="total-all"><b>{summary.findings}</b> findings</div>']
    for severity in SEVERITIES_DESCENDING:
        count = summary.by_severity[severity]
        totals.append(
            f'<div class="total" id="total-{severity.value}"><b>{count}</b> '
            f'<span class="sev sev-{severity.value}">{severity.value}</span></div>'
        )
    boxes = "".join(
        f'<label><input type="checkbox" checked data-severity="{s.value}"> {s.value}</label>'
        for s in SEVERITIES_DESCENDING
    )
    return (
        "<header><h1>kmsguard report</h1>"
        f'<p class="meta">{_plural(summary.files_checked, "input")} checked · '
        f"{summary.suppressed} suppressed · {_plural(summary.errors, 'input error')}</p>"
        f'<div class="totals">{"".join(totals)}</div>'
        f'<div id="filters" hidden>Show: {boxes} <span id="shown-count" class="meta"></span></div>'
        "</header>"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _ranking(items: Sequence[RiskItem]) -> str:
    if not items:
        return '<h2 id="ranking">Keys ranked by risk</h2><p id="no-findings">No findings and no keys.</p>'
    head = "".join(f"<th>{s.value}</th>" for s in SEVERITIES_DESCENDING if any(i.count(s) for i in items))
    shown = [s for s in SEVERITIES_DESCENDING if any(i.count(s) for i in items)]
    rows = []
    for n, item in enumerate(items, 1):
        counts = "".join(f"<td>{item.count(s) or ''}</td>" for s in shown)
        radius = str(len(item.users)) if item.kind == "key" else ""
        rows.append(
            f'<tr class="rank"><td>{n}</td><td><a href="#item-{n}"><code>{_e(item.name)}</code></a></td>'
            f"<td>{_e(item.kind)}</td><td>{item.score}</td>{counts}<td>{radius}</td>"
            f'<td class="mono">{_e(item.location)}</td></tr>'
        )
    return (
        '<h2 id="ranking">Keys ranked by risk</h2>'
        '<p class="note">Risk: the sum of each active finding\'s weight (critical 90, high 70, medium 40, '
        "low 1, info 0). Blast radius: the resources that encrypt with the key.</p>"
        f"<table><thead><tr><th>#</th><th>key or resource</th><th>kind</th><th>risk</th>{head}"
        "<th>blast radius</th><th>where</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _item_section(item: RiskItem, n: int, page: _Page) -> str:
    parts = [
        f'<section class="item" id="item-{n}"><h2>{n}. <code>{_e(item.name)}</code> '
        f'<span class="meta">{_e(item.kind)} · risk {item.score}</span></h2>'
        f'<p class="meta mono">{_e(item.location)}</p>',
        _findings_table(item.findings, page.sources),
    ]
    if item.consumer is not None and page.links is not None:
        parts.append(_key_used("Encrypts with", page.links.link_of(item.consumer), page))
    if item.grant is not None and item.grant.key is not None and page.links is not None:
        parts.append(_key_used("A grant on", page.links.resolve(item.grant.key, item.grant.span.path), page))
    if item.key is not None or item.policy is not None:
        parts.append(_access_section(item, page))
    if item.key is not None:
        parts.append(_blast_radius(item, page.anchors))
    parts.append("</section>")
    return "\n".join(parts)


def _findings_table(findings: Sequence[Finding], sources: SourceIndex) -> str:
    if not findings:
        return '<p class="note">No findings.</p>'
    rows = "".join(_finding_row(f, sources) for f in findings)
    return (
        "<table><thead><tr><th>severity</th><th>rule</th><th>finding</th><th>where</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _finding_row(finding: Finding, sources: SourceIndex) -> str:
    severity = finding.severity.value
    details = [f'<div class="message">{_e(finding.message)}</div>']
    line = sources.line(finding.span.path, finding.span.line)
    if line is not None:
        details.append(f'<code class="src">{finding.span.line} | {_e(line.strip())}</code>')
    if finding.witness is not None:
        details.append(witness_table(finding.witness))
    if finding.unresolved:
        refs = ", ".join(f"<code>{_e(ref)}</code>" for ref in finding.unresolved)
        details.append(f'<p class="note">Depends on values not known statically: {refs}</p>')
    if finding.remediation:
        details.append(f'<p class="note">Fix: {_e(" ".join(finding.remediation.split()))}</p>')
    return (
        f'<tr class="finding" data-severity="{severity}"><td><span class="sev sev-{severity}">'
        f"{severity}</span></td><td><b>{_e(finding.rule_id)}</b><br>{_e(finding.title)}"
        f"{_help_link(finding.help_uri)}</td><td>{''.join(details)}</td>"
        f'<td class="mono">{_e(finding.span)}</td></tr>'
    )


def _help_link(uri: str) -> str:
    # Only web links become links: a rule pack's help_uri could be "javascript:...".
    if uri.startswith(("https://", "http://")):
        return f'<br><a href="{_e(uri)}" rel="noreferrer noopener">docs</a>'
    return f"<br>{_e(uri)}" if uri else ""


def witness_table(witness: Witness) -> str:
    """The request behind a finding as a small table: principal, action, resource, each context
    key; the request in words when it could not be read into parts."""
    rows: list[tuple[str, str]] = []
    if witness.principal:
        rows.append(("principal", witness.principal))
    if witness.action:
        rows.append(("action", witness.action))
    if witness.resource:
        rows.append(("resource", witness.resource))
    rows.extend(witness.context)
    if not rows:
        rows.append(("request", witness.text))
    if witness.note:
        rows.append(("needs", witness.note))
    body = "".join(f"<tr><th>{_e(name)}</th><td><code>{_e(value)}</code></td></tr>" for name, value in rows)
    return f'<table class="witness"><caption class="note">a request that proves it</caption>{body}</table>'


def _access_section(item: RiskItem, page: _Page) -> str:
    key = item.key
    parts = ["<h3>Who can do what: the conditions under which access holds</h3>"]
    if key is not None and key.policy is None:
        parts.append(
            '<p class="note">No key policy set: AWS applies the default key policy, which lets the '
            "key's account allow access with IAM policies.</p>"
        )
    elif key is not None and isinstance(key.policy, Unknown):
        parts.append(
            f'<p class="note">The key policy is not known statically: <code>{_e(key.policy)}</code></p>'
        )
    if item.policy is not None:
        parts.append(access_table(item.policy, key.span.path if key is not None else item.location))
    if key is not None:
        parts.append(_grants_table(page.grants.get(id(key), [])))
    return "\n".join(parts)


def access_table(policy: Policy, holder: str = "") -> str:
    """Each statement of ``policy`` with its principals, actions and when it applies. ``holder``:
    the file of what holds the policy; statements written elsewhere name their file."""
    rows = []
    for statement in policy.statements:
        where = _statement_where(statement, holder)
        rows.append(
            f'<tr class="access"><td>{_e(statement.label)}<br><span class="meta">{_e(where)}</span></td>'
            f"<td><code>{_e(principals_text(statement))}</code></td>"
            f"<td><code>{_e(actions_text(statement))}</code></td>"
            f'<td class="holds">{_e(access_text(statement))}</td></tr>'
        )
    unresolved = "".join(
        f'<p class="note">A part of the policy is not known statically: <code>{_e(part)}</code></p>'
        for part in policy.unresolved
    )
    if not rows:
        return unresolved or '<p class="note">The policy has no statements: it allows nothing.</p>'
    return (
        "<table><thead><tr><th>statement</th><th>principals</th><th>actions</th><th>when</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>{unresolved}"
    )


def _statement_where(statement: Statement, holder: str) -> str:
    span = statement.span
    if span.line <= 0:
        return ""
    if span.path == holder or span.path == holder.split(":")[0]:
        return f"line {span.line}"
    return f"{PurePath(span.path).name}:{span.line}"


def _grants_by_key(inventory: Inventory | None, links: KeyLinks | None) -> dict[int, list[Grant]]:
    found: dict[int, list[Grant]] = {}
    if inventory is None or links is None:
        return found
    for grant in inventory.grants:
        key = links.resolve(grant.key, grant.span.path).key if grant.key is not None else None
        if key is not None:
            found.setdefault(id(key), []).append(grant)
    return found


def _grants_table(grants: Iterable[Grant]) -> str:
    rows = [
        f"<tr><td><code>{_e(g.address)}</code></td><td><code>{_e(g.grantee)}</code></td>"
        f"<td><code>{_e(_element_list(g.operations))}</code></td></tr>"
        for g in grants
    ]
    if not rows:
        return ""
    return (
        "<table><thead><tr><th>grant</th><th>grantee</th><th>operations</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _blast_radius(item: RiskItem, anchors: dict[int, str]) -> str:
    count = _plural(len(item.users), "resource")
    verb = "encrypts" if len(item.users) == 1 else "encrypt"
    parts = [f"<h3>Blast radius: {count} {verb} with this key</h3>"]
    if item.key is not None and item.key.aliases:
        aliases = ", ".join(f"<code>{_e(a)}</code>" for a in item.key.aliases)
        parts.append(f'<p class="note">Aliases: {aliases}</p>')
    if item.users:
        rows = "".join(
            f'<tr class="user"><td>{_linked(c.address, c, anchors)}</td><td>{_e(c.service)}</td>'
            f'<td>{_e(c.resource_type)}</td><td class="mono">{_e(c.span)}</td></tr>'
            for c in item.users
        )
        parts.append(
            "<table><thead><tr><th>resource</th><th>service</th><th>type</th><th>where</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    if item.maybe_users:
        refs = ", ".join(f"<code>{_e(r)}</code>" for r in item.maybe_users)
        parts.append(
            f'<p class="note">Resources nearby whose key is not known statically may also use it: {refs}</p>'
        )
    return "\n".join(parts)


def _key_used(what: str, link: KeyLink, page: _Page) -> str:
    """Which key a resource encrypts with, or a grant is on: a link to its section when known."""
    from kmsguard.rules_engine.key_links import LinkStatus

    if link.status is LinkStatus.KEY and link.key is not None:
        used = _linked(link.key.address, link.key, page.anchors)
    elif link.status is LinkStatus.AWS_MANAGED:
        used = _e(link.what)
    else:
        refs = ", ".join(link.refs) or "a value not known statically"
        used = f"a key outside the inputs or not known statically: <code>{_e(refs)}</code>"
    return f'<p class="note">{_e(what)}: {used}</p>'


def _anchors(items: Sequence[RiskItem]) -> dict[int, str]:
    found: dict[int, str] = {}
    for n, item in enumerate(items, 1):
        for element in (item.key, item.consumer, item.grant):
            if element is not None:
                found[id(element)] = f"item-{n}"
    return found


def _linked(name: str, element: object, anchors: dict[int, str]) -> str:
    """``name`` in code, linked to the section of ``element`` when it has one."""
    anchor = anchors.get(id(element))
    code = f"<code>{_e(name)}</code>"
    return f'<a href="#{anchor}">{code}</a>' if anchor else code


def _errors_section(errors: Sequence[InputError]) -> str:
    if not errors:
        return ""
    rows = "".join(
        f'<tr class="input-error"><td class="mono">{_e(e.path)}</td><td>{e.line or ""}</td>'
        f"<td>{_e(e.message)}</td></tr>"
        for e in errors
    )
    return (
        '<h2 id="errors">Input errors</h2><p class="note">These inputs could not be read; what they '
        "declare is not in this report.</p><table><thead><tr><th>input</th><th>line</th><th>error</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _suppressed_section(findings: Sequence[Finding]) -> str:
    if not findings:
        return ""
    rows = []
    for f in findings:
        reason = f.suppressed_by.reason if f.suppressed_by is not None else ""
        rows.append(
            f'<tr class="suppressed-finding"><td><span class="sev sev-{f.severity.value}">'
            f"{f.severity.value}</span></td><td><b>{_e(f.rule_id)}</b></td><td>{_e(f.message)}</td>"
            f'<td class="mono">{_e(f.span)}</td><td>{_e(reason)}</td></tr>'
        )
    return (
        '<h2 id="suppressed">Suppressed findings</h2><table><thead><tr><th>severity</th><th>rule</th>'
        "<th>finding</th><th>where</th><th>reason</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
