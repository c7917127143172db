"""Three-valued logic for rule predicates: a predicate is True, False, or unresolved (it depends on
values kmsguard cannot know statically). Unresolved is never treated as False: a rule whose
predicate is unresolved still reports, saying which values it depends on."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Truth:
    value: bool | None  # None: unresolved
    depends_on: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:  # pragma: no cover - guard against accidental truthiness
        raise TypeError("use .is_true / .is_false / .is_unresolved on Truth")

    @property
    def is_true(self) -> bool:
        return self.value is True

    @property
    def is_false(self) -> bool:
        return self.value is False

    @property
    def is_unresolved(self) -> bool:
        return self.value is None


TRUE = Truth(True)
FALSE = Truth(False)


def unresolved(*refs: str) -> Truth:
    return Truth(None, tuple(dict.fromkeys(refs)))


def of(value: bool) -> Truth:
    return TRUE if value else FALSE


def all_of(truths: list[Truth]) -> Truth:
    """Kleene AND: False wins; otherwise unresolved if any is; else True."""
    refs: list[str] = []
    pending = False
    for truth in truths:
        if truth.is_false:
            return FALSE
        if truth.is_unresolved:
            pending = True
            refs.extend(truth.depends_on)
    return unresolved(*refs) if pending else TRUE


def any_of(truths: list[Truth]) -> Truth:
    """Kleene OR: True wins; otherwise unresolved if any is; else False."""
    refs: list[str] = []
    pending = False
    for truth in truths:
        if truth.is_true:
            return truth
        if truth.is_unresolved:
            pending = True
            refs.extend(truth.depends_on)
    return unresolved(*refs) if pending else FALSE


def negate(truth: Truth) -> Truth:
    if truth.is_unresolved:
        return truth
    return of(not truth.value)
