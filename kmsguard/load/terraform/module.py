"""A Terraform module directory: variables, tfvars, locals, resources, data sources, module calls,
``count`` / ``for_each`` expansion and outputs, all evaluated lazily and cycle-safe.

A module instance evaluates an attribute only when something asks for it (a resource's values,
another reference); a reference that comes back to itself is ``Unknown`` ("reference cycle").
Local module calls (``source = "./x"`` or ``"../x"``) are loaded with their input variables;
remote ones stand for ``Unknown`` outputs.

``file()`` and ``templatefile()`` read only files inside the directories of the loaded modules
(and below them), at most ``MAX_FILE_BYTES``: a configuration under review must not make the
reviewer's tool read ``~/.aws/credentials`` and echo it into a finding.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kmsguard.findings import InputError
from kmsguard.load import reader
from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.load.terraform import hcl
from kmsguard.load.terraform.evaluate import (
    EvalError,
    Evaluator,
    Lazy,
    Namespace,
    UnknownRoot,
    contains_symbolic,
    is_symbolic,
    unknown,
)
from kmsguard.load.terraform.policy_document import policy_document_json
from kmsguard.load.terraform.resources import MODELLED_TYPES, TfResource
from kmsguard.model.span import Span
from kmsguard.model.values import THIS_ACCOUNT, THIS_REGION, LDict, LList, LStr, ResourceRef, Unknown

MAX_MODULE_DEPTH = 16
MAX_FILE_BYTES = 2 * 1024 * 1024
# "aws_sqs_queue", "google_storage_bucket": provider-prefixed resource type names.
_PROVIDER_RESOURCE_TYPE = re.compile(r"^[a-z][a-z0-9]*_[a-z0-9_]+$")
# A managed resource address (optionally in modules): "module.x.aws_sqs_queue.q", not data sources.
_MANAGED_ADDRESS = re.compile(r"^(module\.[^.]+\.)*[a-z][a-z0-9]*_[a-z0-9_]+\.[^.]+$")

# Meta-arguments are not resource attributes (Terraform language, "Meta-Arguments").
RESOURCE_META = frozenset({"count", "for_each", "depends_on", "provider"})
SKIPPED_BLOCKS = frozenset({"lifecycle", "provisioner", "connection"})
MODULE_META = frozenset({"source", "version", "count", "for_each", "providers", "depends_on"})


@dataclass
class ModuleSource:
    """The parsed files of one module directory."""

    directory: str
    variables: dict[str, hcl.Block] = field(default_factory=dict)
    locals: dict[str, hcl.Attribute] = field(default_factory=dict)
    resources: dict[tuple[str, str, str], hcl.Block] = field(default_factory=dict)  # (mode, type, name)
    modules: dict[str, hcl.Block] = field(default_factory=dict)
    outputs: dict[str, hcl.Block] = field(default_factory=dict)
    resource_types: set[str] = field(default_factory=set)

    def add(self, body: hcl.Body) -> None:
        for block in body.blocks:
            labels = block.labels
            if block.type == "variable" and labels:
                self.variables.setdefault(labels[0], block)
            elif block.type == "locals":
                for attr in block.body.attributes:
                    self.locals.setdefault(attr.name, attr)
            elif block.type == "resource" and len(labels) >= 2:
                self.resources.setdefault(("managed", labels[0], labels[1]), block)
                self.resource_types.add(labels[0])
            elif block.type == "data" and len(labels) >= 2:
                self.resources.setdefault(("data", labels[0], labels[1]), block)
            elif block.type == "module" and labels:
                self.modules.setdefault(labels[0], block)
            elif block.type == "output" and labels:
                self.outputs.setdefault(labels[0], block)


@dataclass(frozen=True)
class Expansion:
    """The instances of a ``count`` / ``for_each`` block: (index key, address suffix, bindings)."""

    mode: str  # "single" | "count" | "for_each" | "unknown"
    instances: tuple[tuple[Any, str, dict[str, Any]], ...]


class TreeLoader:
    """State shared by all modules of one ``load_terraform`` call."""

    def __init__(self, ctx: LoadContext, result: LoadResult, root_directory: str) -> None:
        self.ctx = ctx
        self.result = result
        self.root_directory = root_directory
        self.sources: dict[str, ModuleSource | None] = {}
        self.allowed_dirs: set[str] = set()
        self.block_ranges: dict[str, list[tuple[int, int]]] = {}

    # -- files --

    def read_text(self, path: str, *, report: bool = True, limit: int = reader.MAX_FILE_BYTES) -> str | None:
        text = reader.read_text(path, limit)
        if isinstance(text, InputError):
            if report:
                self.result.errors.append(text)
            return None
        self.result.sources[path] = text
        return text

    def parse_file(self, path: str) -> hcl.Body | None:
        text = self.read_text(path)
        if text is None:
            return None
        parsed = _parse_cached(path, text)
        if parsed.body is None:
            self.result.errors.append(InputError(path, parsed.error_line, parsed.error_message))
            return None
        ranges = self.block_ranges.setdefault(path, [])
        for block in parsed.body.blocks:
            if block.type in ("resource", "data", "module"):
                ranges.append((block.span.line, block.end_line))
        return parsed.body

    def module_source(self, directory: str, files: Sequence[str] | None = None) -> ModuleSource | None:
        key = os.path.normpath(directory)
        if key in self.sources:
            return self.sources[key]
        if files is None:
            try:
                names = sorted(n for n in os.listdir(directory) if n.endswith(".tf"))
            except OSError:
                self.sources[key] = None
                return None
            files = [os.path.join(directory, n) for n in names]
        source = ModuleSource(directory)
        for path in files:
            body = self.parse_file(path)
            if body is not None:
                source.add(body)
        self.sources[key] = source
        self.allowed_dirs.add(os.path.realpath(directory))
        return source

    def tfvars(self, directory: str) -> dict[str, Any]:
        """Root variable values: terraform.tfvars(.json), then *.auto.tfvars(.json) in lexical
        order, later files overriding (Terraform language, "Variable Definition Precedence")."""
        try:
            names = os.listdir(directory)
        except OSError:
            return {}
        ordered = [n for n in ("terraform.tfvars", "terraform.tfvars.json") if n in names]
        ordered += sorted(n for n in names if n.endswith((".auto.tfvars", ".auto.tfvars.json")))
        values: dict[str, Any] = {}
        literal = Evaluator(_no_references)
        for name in ordered:
            path = os.path.join(directory, name)
            text = self.read_text(path)
            if text is None:
                continue
            if name.endswith(".json"):
                from kmsguard.load.jsonpos import JSONPosError, loads_with_positions

                try:
                    decoded, _ = loads_with_positions(text, path)
                except JSONPosError as err:
                    self.result.errors.append(InputError(path, err.line, f"invalid JSON: {err.message}"))
                    continue
                if isinstance(decoded, dict):
                    values.update(decoded)
                continue
            parsed = hcl.parse_hcl(text.encode("utf-8"), path)
            if parsed.body is None:
                self.result.errors.append(InputError(path, parsed.error_line, parsed.error_message))
                continue
            for attr in parsed.body.attributes:
                values[attr.name] = literal.evaluate(attr.expr)
        return values

    def read_file(self, path_value: Any, span: Span) -> Any:
        """``file()``: a string with the span of the file's first line, or Unknown."""
        path = str(path_value)
        full = path if os.path.isabs(path) else os.path.join(self.root_directory, path)
        real = os.path.realpath(full)
        inside = any(real == d or real.startswith(d.rstrip(os.sep) + os.sep) for d in self.allowed_dirs)
        if not inside:
            return Unknown(f"file({path})", span, "outside the loaded modules: not read")
        text = self.read_text(os.path.normpath(full), report=False, limit=MAX_FILE_BYTES)
        if text is None:
            return Unknown(f"file({path})", span, "file not readable")
        return LStr(text, Span(os.path.normpath(full), 1, 1))


_PARSE_CACHE: dict[tuple[str, str], hcl.ParsedFile] = {}
_PARSE_CACHE_SIZE = 512


def _parse_cached(path: str, text: str) -> hcl.ParsedFile:
    """Parse once per run: a local module called from several roots is read once. The key holds
    the text, so an edited file is parsed again; the syntax tree is immutable."""
    key = (path, text)
    parsed = _PARSE_CACHE.get(key)
    if parsed is None:
        parsed = hcl.parse_hcl(text.encode("utf-8"), path)
        if len(_PARSE_CACHE) >= _PARSE_CACHE_SIZE:
            _PARSE_CACHE.pop(next(iter(_PARSE_CACHE)))
        _PARSE_CACHE[key] = parsed
    return parsed


def _no_references(name: str, span: Span) -> Any:
    raise UnknownRoot(name)


def _address_key(key: Any) -> str:
    return f"[{key}]" if isinstance(key, int) else f"[{json.dumps(str(key))}]"


class ModuleInstance:
    """One instance of a module (the root, or ``module.x[...]``) with lazy, cached evaluation."""

    def __init__(
        self,
        tree: TreeLoader,
        source: ModuleSource,
        prefix: str,
        inputs: dict[str, Callable[[], Any]] | None,
        tfvars: dict[str, Any],
        depth: int,
        chain: tuple[str, ...],
    ) -> None:
        self.tree = tree
        self.source = source
        self.prefix = prefix  # "" for the root, "module.kms." for a child
        self.inputs = inputs
        self.tfvars = tfvars
        self.depth = depth
        self.chain = chain
        self.evaluator = Evaluator(self.resolve_root, tree.read_file)
        self.cache: dict[str, Any] = {}
        self.active: set[str] = set()
        self.children: dict[str, ModuleInstance | None] = {}
        self.root_namespaces: dict[str, Any] = {
            "var": Namespace("var", self.variable),
            "local": Namespace("local", self.local),
            "data": Namespace("data", self.data_type),
            "module": Namespace("module", self.module_call),
            "path": Namespace("path", self.path_attr),
            "terraform": Namespace("terraform", lambda name, span: Unknown(f"terraform.{name}", span)),
        }

    # -- cycle-safe cache --

    def guarded(self, key: str, ref: str, span: Span, compute: Callable[[], Any]) -> Any:
        if key in self.cache:
            return self.cache[key]
        if key in self.active:
            return Unknown(ref, span, "reference cycle")
        self.active.add(key)
        try:
            value = compute()
        finally:
            self.active.discard(key)
        self.cache[key] = value
        return value

    # -- names --

    def resolve_root(self, name: str, span: Span) -> Any:
        namespace = self.root_namespaces.get(name)
        if namespace is not None:
            return namespace
        if name in self.source.resource_types:
            return Namespace(name, lambda res_name, s: self.resource("managed", name, res_name, s))
        if _PROVIDER_RESOURCE_TYPE.match(name):
            # A resource type used only in files that were not loaded: its references still name
            # the resource (and so its type), whose attributes are known after apply.
            return Namespace(name, lambda res_name, s: self.resource("managed", name, res_name, s))
        raise UnknownRoot(name)

    def variable(self, name: str, span: Span) -> Any:
        block = self.source.variables.get(name)
        if block is None:
            # Declared in a file that was not loaded: unknown, and named.
            return Unknown(f"var.{name}", span, "declared outside the loaded files")
        return self.guarded(f"var.{name}", f"var.{name}", span, lambda: self._variable(name, block, span))

    def _variable(self, name: str, block: hcl.Block, span: Span) -> Any:
        attrs = {a.name: a for a in block.body.attributes}
        default = attrs.get("default")
        literal = Evaluator(_no_references)
        default_value = literal.evaluate(default.expr) if default is not None else None
        if self.inputs is not None and name in self.inputs:
            value = self.inputs[name]()
            nullable = attrs.get("nullable")
            if value is None and nullable is not None and literal.evaluate(nullable.expr) is False:
                return default_value
            return value
        if self.inputs is None and name in self.tfvars:
            return self.tfvars[name]
        if default is not None:
            return default_value
        return Unknown(f"var.{name}", span, "no value given")

    def local(self, name: str, span: Span) -> Any:
        attr = self.source.locals.get(name)
        if attr is None:
            return Unknown(f"local.{name}", span, "declared outside the loaded files")
        return self.guarded(
            f"local.{name}", f"local.{name}", span, lambda: self.evaluator.evaluate(attr.expr)
        )

    def path_attr(self, name: str, span: Span) -> Any:
        if name == "module":
            return LStr(self.source.directory, span)
        if name in ("root", "cwd"):
            return LStr(self.tree.root_directory, span)
        raise EvalError(f"unknown path attribute {name!r}")

    def data_type(self, type_name: str, span: Span) -> Any:
        return Namespace(
            f"data.{type_name}", lambda res_name, s: self.resource("data", type_name, res_name, s)
        )

    def resource(self, mode: str, type_name: str, name: str, span: Span) -> Any:
        block = self.source.resources.get((mode, type_name, name))
        if block is None:
            # Declared in a file that was not loaded (a partial checkout, a generated file): its
            # attributes are unknown, but references to it still name it.
            return UndeclaredResourceLazy(self.base_address(mode, type_name, name))
        return ResourceLazy(self, mode, type_name, name, block)

    def base_address(self, mode: str, type_name: str, name: str) -> str:
        return f"{self.prefix}{'data.' if mode == 'data' else ''}{type_name}.{name}"

    # -- count / for_each --

    def expansion(self, block: hcl.Block, ref: str) -> Expansion:
        return self.guarded(f"expand:{ref}", ref, block.span, lambda: self._expansion(block))

    def _expansion(self, block: hcl.Block) -> Expansion:
        attrs = {a.name: a for a in block.body.attributes}
        if "count" in attrs:
            count = self.evaluator.evaluate(attrs["count"].expr)
            if isinstance(count, bool) or not isinstance(count, (int, float)) or count < 0:
                return _unknown_expansion()
            return Expansion(
                "count", tuple((i, f"[{i}]", {"count": _obj(index=i)}) for i in range(int(count)))
            )
        if "for_each" in attrs:
            collection = self.evaluator.evaluate(attrs["for_each"].expr)
            if isinstance(collection, dict) and not any(is_symbolic(k) for k in collection):
                keys = sorted(collection)
                return Expansion(
                    "for_each",
                    tuple(
                        (
                            str(k),
                            _address_key(str(k)),
                            {"each": _obj(key=LStr(str(k), block.span), value=collection[k])},
                        )
                        for k in keys
                    ),
                )
            if isinstance(collection, list) and all(isinstance(i, str) for i in collection):
                keys = sorted(set(str(i) for i in collection))
                return Expansion(
                    "for_each",
                    tuple(
                        (
                            k,
                            _address_key(k),
                            {"each": _obj(key=LStr(k, block.span), value=LStr(k, block.span))},
                        )
                        for k in keys
                    ),
                )
            return _unknown_expansion()
        return Expansion("single", ((None, "", {}),))

    # -- resource values --

    def instance_values(self, address: str, block: hcl.Block, bindings: dict[str, Any]) -> LDict:
        return self.guarded(
            f"values:{address}",
            address,
            block.span,
            lambda: self.evaluate_body(block.body, bindings, block.span),
        )

    def evaluate_body(self, body: hcl.Body, env: dict[str, Any], span: Span) -> LDict:
        result = LDict(span=span)
        for attr in body.attributes:
            if attr.name in RESOURCE_META:
                continue
            result[LStr(attr.name, attr.span)] = self.evaluator.evaluate(attr.expr, env)
            result.key_spans[attr.name] = attr.span
        for block in body.blocks:
            if block.type in SKIPPED_BLOCKS:
                continue
            if block.type == "dynamic" and block.labels:
                self.dynamic(block, env, result)
                continue
            nested = self.evaluate_body(block.body, env, block.span)
            self._append_block(result, block.type, nested, block.span)
        return result

    @staticmethod
    def _append_block(result: LDict, name: str, value: Any, span: Span) -> None:
        existing = result.get(name)
        if not isinstance(existing, LList):
            existing = LList(span=span)
            result[LStr(name, span)] = existing
            result.key_spans[name] = span
        existing.append(value)

    def dynamic(self, block: hcl.Block, env: dict[str, Any], result: LDict) -> None:
        """``dynamic "x" { for_each = ...; iterator = it; content { ... } }`` (Terraform language,
        "dynamic Blocks"); an unknown ``for_each`` leaves one ``Unknown`` element."""
        label = block.labels[0]
        attrs = {a.name: a for a in block.body.attributes}
        iterator = label
        if "iterator" in attrs and isinstance(attrs["iterator"].expr, hcl.Variable):
            iterator = attrs["iterator"].expr.name
        content = next((b for b in block.body.blocks if b.type == "content"), None)
        for_each = attrs.get("for_each")
        if content is None or for_each is None:
            return
        collection = self.evaluator.evaluate(for_each.expr, env)
        try:
            entries = self.evaluator.iterate(collection)
        except EvalError:
            entries = []
        if entries is None:
            self._append_block(
                result,
                label,
                unknown(f"dynamic {label!r} blocks", block.span, "for_each not known"),
                block.span,
            )
            return
        for key, value in entries:
            inner = dict(env)
            inner[iterator] = _obj(key=key, value=value)
            self._append_block(result, label, self.evaluate_body(content.body, inner, block.span), block.span)

    # -- module calls --

    def module_call(self, name: str, span: Span) -> Any:
        block = self.source.modules.get(name)
        if block is None:
            return UndeclaredResourceLazy(f"{self.prefix}module.{name}")
        return ModuleCallLazy(self, name, block)

    def child(
        self, name: str, block: hcl.Block, key: Any, suffix: str, bindings: dict[str, Any]
    ) -> ModuleInstance | None:
        cache_key = f"{name}{suffix}"
        if cache_key in self.children:
            return self.children[cache_key]
        self.children[cache_key] = None  # a call that reaches itself stays remote-like
        attrs = {a.name: a for a in block.body.attributes}
        source_attr = attrs.get("source")
        source_value = self.evaluator.evaluate(source_attr.expr) if source_attr is not None else None
        if not isinstance(source_value, str) or not source_value.startswith(("./", "../")):
            return None
        directory = os.path.normpath(os.path.join(self.source.directory, str(source_value)))
        if self.depth >= MAX_MODULE_DEPTH or directory in self.chain:
            return None
        module_source = self.tree.module_source(directory)
        if module_source is None:
            return None
        inputs: dict[str, Callable[[], Any]] = {}
        for attr in block.body.attributes:
            if attr.name not in MODULE_META:
                inputs[attr.name] = _thunk(self.evaluator, attr.expr, bindings)
        instance = ModuleInstance(
            self.tree,
            module_source,
            f"{self.prefix}module.{name}{suffix}.",
            inputs,
            {},
            self.depth + 1,
            (*self.chain, directory),
        )
        self.children[cache_key] = instance
        return instance

    def output(self, name: str, span: Span) -> Any:
        block = self.source.outputs.get(name)
        if block is None:
            raise EvalError(f"module has no output {name!r}")
        value_attr = next((a for a in block.body.attributes if a.name == "value"), None)
        if value_attr is None:
            return None
        return self.guarded(
            f"output.{name}",
            f"{self.prefix}output.{name}",
            span,
            lambda: self.evaluator.evaluate(value_attr.expr),
        )

    # -- the whole tree --

    def collect(self) -> list[TfResource]:
        """Every instance of a modelled resource type in this module and its local children
        (data sources and other resources are evaluated only when referenced)."""
        found: list[TfResource] = []
        for (mode, type_name, name), block in self.source.resources.items():
            if mode != "managed" or type_name not in MODELLED_TYPES:
                continue  # evaluated only when something refers to it
            base = self.base_address(mode, type_name, name)
            for _, suffix, bindings in self.expansion(block, base).instances:
                address = base + suffix
                values = self.instance_values(address, block, bindings)
                found.append(TfResource(address, type_name, mode, values, block.span, block.end_line))
        for name, block in self.source.modules.items():
            for key, suffix, bindings in self.expansion(block, f"{self.prefix}module.{name}").instances:
                child = self.child(name, block, key, suffix, bindings)
                if child is not None:
                    found.extend(child.collect())
        return found


def _thunk(evaluator: Evaluator, expr: hcl.Expr, bindings: dict[str, Any]) -> Callable[[], Any]:
    return lambda: evaluator.evaluate(expr, bindings)


def _obj(**members: Any) -> LDict:
    return LDict(members)


def _unknown_expansion() -> Expansion:
    bindings = {
        "count": _obj(index=Unknown("count.index")),
        "each": _obj(key=Unknown("each.key"), value=Unknown("each.value")),
    }
    return Expansion("unknown", (("*", "[*]", bindings),))


class UndeclaredResourceLazy(Lazy):
    """A resource, data source or module referred to but not declared in the loaded files."""

    def __init__(self, address: str) -> None:
        self.address = address

    def describe(self) -> str:
        return self.address

    def attr(self, name: str, span: Span) -> Any:
        if _MANAGED_ADDRESS.match(self.address):
            return ResourceRef(self.address, name, span)
        return Unknown(f"{self.address}.{name}", span, "declared outside the loaded files")

    def index(self, key: Any, span: Span) -> Any:
        return UndeclaredResourceLazy(f"{self.address}[{json.dumps(key) if isinstance(key, str) else key}]")


class ResourceLazy(Lazy):
    """``aws_kms_key.this`` / ``data.aws_iam_policy_document.x`` before an index or attribute."""

    def __init__(
        self, module: ModuleInstance, mode: str, type_name: str, name: str, block: hcl.Block
    ) -> None:
        self.module = module
        self.mode = mode
        self.type_name = type_name
        self.name = name
        self.block = block
        self.base = module.base_address(mode, type_name, name)

    def describe(self) -> str:
        return self.base

    def expansion(self) -> Expansion:
        return self.module.expansion(self.block, self.base)

    def instance(self, key: Any, suffix: str, bindings: dict[str, Any]) -> InstanceLazy:
        return InstanceLazy(self, self.base + suffix, bindings)

    def attr(self, name: str, span: Span) -> Any:
        expansion = self.expansion()
        if expansion.mode in ("single", "unknown"):
            _, suffix, bindings = expansion.instances[0]
            return self.instance(None, suffix, bindings).attr(name, span)
        raise EvalError(f"{self.base} has count or for_each: an index is needed")

    def index(self, key: Any, span: Span) -> Any:
        expansion = self.expansion()
        if expansion.mode == "unknown":
            _, suffix, bindings = expansion.instances[0]
            return self.instance(key, suffix, bindings)
        if expansion.mode == "single":
            raise EvalError(f"{self.base} has no count or for_each")
        if is_symbolic(key):
            return Unknown(f"{self.base}[{key}]", span, "instance key not known")
        for instance_key, suffix, bindings in expansion.instances:
            if expansion.mode == "count" and not isinstance(key, str) and instance_key == key:
                return self.instance(instance_key, suffix, bindings)
            if (
                expansion.mode == "count"
                and isinstance(key, str)
                and key.isdigit()
                and instance_key == int(key)
            ):
                return self.instance(instance_key, suffix, bindings)
            if expansion.mode == "for_each" and instance_key == str(key):
                return self.instance(instance_key, suffix, bindings)
        raise EvalError(f"{self.base} has no instance {key!r}")

    def whole(self, span: Span) -> Any:
        expansion = self.expansion()
        if expansion.mode == "single":
            return self.instance(None, "", {}).whole(span)
        if expansion.mode == "count":
            return LList([self.instance(k, s, b) for k, s, b in expansion.instances], span=span)
        if expansion.mode == "for_each":
            result = LDict(span=span)
            for key, suffix, bindings in expansion.instances:
                result[key] = self.instance(key, suffix, bindings)
            return result
        return Unknown(f"{self.base}[*]", span, "count or for_each not known")

    def splat_items(self, span: Span) -> list[Any] | None:
        expansion = self.expansion()
        if expansion.mode == "single":
            return [self.instance(None, "", {})]
        if expansion.mode == "count":
            return [self.instance(k, s, b) for k, s, b in expansion.instances]
        if expansion.mode == "for_each":
            return [self.whole(span)]
        return None


class InstanceLazy(Lazy):
    """One instance: its attributes are references, or the values written in its block."""

    def __init__(self, resource: ResourceLazy, address: str, bindings: dict[str, Any]) -> None:
        self.resource = resource
        self.address = address
        self.bindings = bindings

    def describe(self) -> str:
        return self.address

    def values(self) -> LDict:
        resource = self.resource
        return resource.module.instance_values(self.address, resource.block, self.bindings)

    def attr(self, name: str, span: Span) -> Any:
        resource = self.resource
        ctx = resource.module.tree.ctx
        if resource.mode == "data":
            special = _data_attribute(resource.type_name, name, ctx, span, self)
            if special is not _NOT_SPECIAL:
                return special
        written = any(a.name == name for a in resource.block.body.attributes) and name not in RESOURCE_META
        if written:
            value = self.values().get(name)
            if not contains_symbolic(value):
                return value  # a literal written in the block: the attribute's value
        if resource.mode == "data":
            return Unknown(f"{self.address}.{name}", span, "read from AWS at plan time")
        return ResourceRef(self.address, name, span)

    def whole(self, span: Span) -> Any:
        if self.resource.mode == "data":
            return Unknown(self.address, span, "data source")
        return ResourceRef(self.address, "", span)


_NOT_SPECIAL = object()


def _data_attribute(type_name: str, name: str, ctx: LoadContext, span: Span, instance: InstanceLazy) -> Any:
    """Data sources whose results the deployment context (or the configuration) determines."""
    if type_name == "aws_caller_identity" and name == "account_id":
        if any(a.name == "provider" for a in instance.resource.block.body.attributes):
            # Another provider configuration may be another account.
            return Unknown(f"{instance.address}.account_id", span, "account of another provider")
        return LStr(ctx.account, span) if ctx.account else Unknown(THIS_ACCOUNT, span)
    if type_name == "aws_partition" and name == "partition":
        return LStr(ctx.partition, span)
    if type_name == "aws_region" and name in ("name", "region", "id"):
        return LStr(ctx.region, span) if ctx.region else Unknown(THIS_REGION, span)
    if type_name == "aws_iam_policy_document" and name in ("json", "minified_json"):
        return policy_document_json(instance.values())
    return _NOT_SPECIAL


class ModuleCallLazy(Lazy):
    """``module.x`` (and ``module.x[k]``): its outputs, or Unknown for remote modules."""

    def __init__(
        self, module: ModuleInstance, name: str, block: hcl.Block, key: Any = None, chosen: bool = False
    ) -> None:
        self.module = module
        self.name = name
        self.block = block
        self.key = key
        self.chosen = chosen

    def describe(self) -> str:
        return f"module.{self.name}"

    def target(self, span: Span) -> tuple[ModuleInstance | None, str]:
        ref = f"{self.module.prefix}module.{self.name}"
        expansion = self.module.expansion(self.block, ref)
        if expansion.mode in ("single", "unknown"):
            key, suffix, bindings = expansion.instances[0]
        elif not self.chosen:
            raise EvalError(f"module.{self.name} has count or for_each: an index is needed")
        else:
            match = [i for i in expansion.instances if i[0] == self.key or str(i[0]) == str(self.key)]
            if not match:
                raise EvalError(f"module.{self.name} has no instance {self.key!r}")
            key, suffix, bindings = match[0]
        return self.module.child(self.name, self.block, key, suffix, bindings), suffix

    def attr(self, name: str, span: Span) -> Any:
        child, suffix = self.target(span)
        if child is None:
            return Unknown(
                f"module.{self.name}{suffix}.{name}", span, "output of a module that is not loaded"
            )
        return child.output(name, span)

    def index(self, key: Any, span: Span) -> Any:
        if is_symbolic(key):
            return Unknown(f"module.{self.name}[{key}]", span, "instance key not known")
        return ModuleCallLazy(self.module, self.name, self.block, key, chosen=True)

    def whole(self, span: Span) -> Any:
        return Unknown(f"module.{self.name}", span, "a whole module")
