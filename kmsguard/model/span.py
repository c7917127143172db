"""Where a model element came from: a file position, or an ARN / API call for live data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A source location. Lines and columns are 1-based; ``line == 0`` means "the whole source"
    (used for live-account data, where ``path`` is the ARN or API the value came from)."""

    path: str
    line: int = 0
    col: int = 0
    end_line: int = 0
    end_col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        return f"{self.path}:{self.line}:{max(self.col, 1)}"


NO_SPAN = Span("<unknown>")
