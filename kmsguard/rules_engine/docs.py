"""Rule documentation generated from the packs, in ruff's shape: What it does / Why is this bad /
Example / Use instead / Options / References.

One structure (``rule_sections``) renders both as Markdown (``docs/rules/<ID>.md``) and as text
(``kmsguard rules KMS001``), so the page and the explanation cannot drift apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmsguard.rules_engine.packs import DEFAULT_PACK, Pack, Rule

# Each pack's params: name -> [(pack, value)], the packs that set a new default for it.
Overrides = Mapping[str, Sequence[tuple[str, Any]]]

_FENCE = {"terraform": "hcl", "cloudformation": "yaml", "policy": "json"}
_KIND_LABEL = {"terraform": "Terraform", "cloudformation": "CloudFormation", "policy": "Policy JSON"}
# How an example says where it is deployed, as the options of `kmsguard check`.
_CONTEXT_OPTIONS = {"account": "--account", "trusted_accounts": "--trusted-accounts", "org_id": "--org-id"}
GENERATED_NOTE = "<!-- generated from the rule packs by `kmsguard rules --write-docs docs`; do not edit -->"


@dataclass(frozen=True)
class Prose:
    text: str


@dataclass(frozen=True)
class Code:
    kind: str  # terraform, cloudformation, policy
    text: str
    context: str = ""  # the command-line options the example is checked with, if any


@dataclass(frozen=True)
class Items:
    items: tuple[str, ...]


Block = Prose | Code | Items


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


def pack_overrides(packs: Sequence[Pack]) -> dict[str, list[tuple[str, Any]]]:
    """Which packs set a new default for which rule parameter (kms-strict's ``params:``)."""
    found: dict[str, list[tuple[str, Any]]] = {}
    for pack in packs:
        for name, value in pack.params.items():
            found.setdefault(name, []).append((pack.name, value))
    return found


def _examples(items: Sequence[Mapping[str, Any]]) -> list[Block]:
    blocks: list[Block] = []
    for item in items:
        context = " ".join(
            f"{option} {','.join(value) if isinstance(value, list) else value}"
            for key, option in _CONTEXT_OPTIONS.items()
            if (value := item.get(key)) is not None
        )
        blocks += [Code(kind, str(code), context) for kind, code in item.items() if kind in _FENCE]
    return blocks


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def _options(rule: Rule, overrides: Overrides) -> list[str]:
    lines = []
    for name, default in rule.params.items():
        others = "".join(
            f"; {pack}: `{_value(value)}`" for pack, value in overrides.get(name, ()) if pack != rule.pack
        )
        lines.append(f"`{name}` (default `{_value(default)}`{others})")
    return lines


def rule_sections(rule: Rule, overrides: Overrides | None = None) -> list[Section]:
    sections = [
        Section("What it does", (Prose(rule.description),)),
        Section("Why is this bad?", (Prose(rule.why or rule.description),)),
    ]
    failing = _examples(rule.examples.get("fail") or [])
    if failing:
        sections.append(Section("Example", tuple(failing)))
    passing = _examples(rule.examples.get("pass") or [])
    sections.append(Section("Use instead", (Prose(rule.remediation), *passing)))
    options = _options(rule, overrides or {})
    if options:
        how = Prose("Set with `--param NAME=VALUE` or in `[tool.kmsguard.params]`.")
        sections.append(Section("Options", (Items(tuple(options)), how)))
    sections.append(Section("References", (Items(rule.references),)))
    return sections


def _summary(rule: Rule) -> str:
    return f"Severity: **{rule.severity.value}** · Category: **{rule.category}** · Pack: `{rule.pack}`"


def _markdown_block(block: Block) -> str:
    if isinstance(block, Prose):
        return block.text
    if isinstance(block, Items):
        return "\n".join(f"- {_link(item)}" for item in block.items)
    lead = f"Checked with `{block.context}`:\n\n" if block.context else ""
    return f"{lead}```{_FENCE.get(block.kind, '')}\n{block.text.rstrip()}\n```"


def _link(item: str) -> str:
    if item.startswith("docs/"):
        return f"[{item}](../{item.removeprefix('docs/')})"
    return f"<{item}>" if item.startswith(("http://", "https://")) else item


def rule_markdown(rule: Rule, overrides: Overrides | None = None) -> str:
    """The page ``docs/rules/<ID>.md``."""
    parts = [f"# {rule.id}: {rule.title}", "", _summary(rule), ""]
    for section in rule_sections(rule, overrides):
        parts += [f"## {section.title}", ""]
        for block in section.blocks:
            parts += [_markdown_block(block), ""]
    parts += ["[All rules](../rules.md)", ""]
    return "\n".join(parts)


def _text_block(block: Block) -> str:
    if isinstance(block, Prose):
        return _indent(block.text, 2)
    if isinstance(block, Items):
        return "\n".join(f"  - {item}" for item in block.items)
    label = _KIND_LABEL.get(block.kind, block.kind)
    lead = f"  {label} (checked with {block.context}):" if block.context else f"  {label}:"
    return lead + "\n" + _indent(block.text.rstrip(), 4)


def _indent(text: str, width: int) -> str:
    return "\n".join((" " * width + line) if line.strip() else "" for line in text.splitlines())


def rule_text(rule: Rule, overrides: Overrides | None = None) -> str:
    """What ``kmsguard rules KMS001`` prints: the rule's page, as text."""
    summary = f"Severity: {rule.severity.value} · Category: {rule.category} · Pack: {rule.pack}"
    parts = [f"{rule.id}: {rule.title}", summary, ""]
    for section in rule_sections(rule, overrides):
        parts += [section.title, ""]
        for block in section.blocks:
            parts += [_text_block(block), ""]
    return "\n".join(parts)


def index_markdown(packs: Sequence[Pack]) -> str:
    """``docs/rules.md``: every rule of every pack, linking to its page."""
    parts = [
        "# kmsguard rules",
        "",
        GENERATED_NOTE,
        "",
        "Each rule has a page: what it does, why it matters, a failing example and what to write "
        "instead. `kmsguard rules ID` prints the same page in a terminal.",
        "",
    ]
    for pack in packs:
        default = " (default)" if pack.name == DEFAULT_PACK else f" (`--pack {pack.name}`)"
        parts += [f"## {pack.name}{default}", ""]
        if pack.description:
            parts += [pack.description, ""]
        if pack.params:
            settings = ", ".join(f"`{name}` = `{_value(value)}`" for name, value in pack.params.items())
            parts += [f"Parameters this pack sets for the rules of all loaded packs: {settings}.", ""]
        parts += ["| id | severity | category | title |", "| --- | --- | --- | --- |"]
        parts += [
            f"| [{r.id}](rules/{r.id}.md) | {r.severity.value} | {r.category} | {r.title} |"
            for r in pack.rules
        ]
        parts.append("")
    return "\n".join(parts)


def _index_row(rule: Rule) -> str:
    return f"| [{rule.id}](rules/{rule.id}.md) | {rule.severity.value} | {rule.category} | {rule.title} |"


def generated_docs(packs: Sequence[Pack]) -> dict[str, str]:
    """Relative path (under the docs folder) -> content, for the index and every rule's page."""
    overrides = pack_overrides(packs)
    pages = {"rules.md": index_markdown(packs)}
    for pack in packs:
        for rule in pack.rules:
            pages[f"rules/{rule.id}.md"] = rule_markdown(rule, overrides)
    return pages


def stale_pages(directory: Path, pages: Mapping[str, str]) -> list[Path]:
    """Generated rule pages in ``directory`` for rules that no longer exist."""
    folder = directory / "rules"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("KMS[0-9][0-9][0-9].md") if f"rules/{p.name}" not in pages)


def write_docs(directory: Path, packs: Sequence[Pack]) -> list[Path]:
    """Write the index and the rule pages under ``directory``, remove pages of rules that no
    longer exist; returns the files changed."""
    pages = generated_docs(packs)
    changed: list[Path] = []
    for relative, content in pages.items():
        target = directory / relative
        if target.is_file() and target.read_text(encoding="utf-8") == content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        changed.append(target)
    for stale in stale_pages(directory, pages):
        stale.unlink()
        changed.append(stale)
    return changed
