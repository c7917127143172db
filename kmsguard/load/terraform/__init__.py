"""Terraform HCL loader: one module directory (and its local modules) -> an ``Inventory``.

Modules: ``hcl`` (tree-sitter -> located syntax tree), ``evaluate`` + ``functions`` (expressions
with ``Unknown``), ``module`` (variables, locals, count/for_each, module calls), ``policy_document``
and ``resources`` (evaluated values -> model; shared with the plan loader), ``json_text`` (JSON
text with interpolations).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from kmsguard.findings import InputError
from kmsguard.load.base import LoadContext, LoadResult
from kmsguard.load.suppress import comment_suppressions
from kmsguard.model import Source

__all__ = ["load_terraform"]


def load_terraform(directory: str, files: Sequence[str], ctx: LoadContext) -> LoadResult:
    """Load one Terraform module directory: its ``.tf`` ``files``, ``terraform.tfvars`` and
    ``*.auto.tfvars``, and the local modules it calls. Never raises: unreadable files become
    ``InputError``s and the rest still loads."""
    from kmsguard.load.terraform.module import ModuleInstance, TreeLoader
    from kmsguard.load.terraform.resources import map_resources

    result = LoadResult()
    tree = TreeLoader(ctx, result, directory)
    try:
        source = tree.module_source(directory, list(files))
        if source is not None:
            root = ModuleInstance(
                tree, source, "", None, tree.tfvars(directory), 0, (os.path.normpath(directory),)
            )
            mapped = map_resources(root.collect(), ctx, Source.TERRAFORM)
            result.inventory = mapped.inventory
            result.diagnostics.extend(mapped.diagnostics)
    except RecursionError:
        result.errors.append(InputError(directory, 0, "configuration nested too deeply to evaluate"))
    except Exception as err:
        result.errors.append(
            InputError(directory, 0, f"internal error while loading Terraform: {type(err).__name__}: {err}")
        )
    for path, text in list(result.sources.items()):
        if not path.endswith(".tf"):
            continue
        suppressions, diagnostics = comment_suppressions(path, text, tree.block_ranges.get(path, ()))
        result.suppressions.extend(suppressions)
        result.diagnostics.extend(diagnostics)
    return result
