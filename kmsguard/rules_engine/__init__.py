"""The small runtime that interprets the YAML rule packs in ``rules/``."""

from kmsguard.rules_engine.packs import Pack, PackError, Rule, load_pack, load_packs
from kmsguard.rules_engine.runtime import rules_of, run_packs

__all__ = ["Pack", "PackError", "Rule", "load_pack", "load_packs", "rules_of", "run_packs"]
