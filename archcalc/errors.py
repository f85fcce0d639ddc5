"""Errors a user can cause, each carrying where, what, the arithmetic and the fix.

Every message reads ``<where>: <what> (<formula>). Fix: <hint>`` so the CLI can print it as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Location:
    """Where in the user's input something went wrong; every part is optional."""

    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    layer: str | None = None
    kind: str | None = None
    field: str | None = None
    context: str | None = None  # e.g. 'input 5×5×64', shown after the layer

    def __str__(self) -> str:
        parts = []
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            parts.append(where)
        if self.layer:
            parts.append(f"layer '{self.layer}'" + (f" ({self.kind})" if self.kind else ""))
        if self.context:
            if parts:
                parts[-1] += ","
            parts.append(self.context)
        if self.field:
            parts.append(f"field '{self.field}'")
        return " ".join(parts)

    @classmethod
    def at(cls, file: str | None, mark: Any, **parts: Any) -> Location:
        """A location in ``file`` at ``mark`` (anything with ``line`` and ``column``, such as
        a YAML Mark; None for no position), with any other parts given by name."""
        return cls(file, getattr(mark, "line", None), getattr(mark, "column", None), **parts)

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.file, self.line, self.layer, self.field))


class ArchcalcError(Exception):
    """Base of every error caused by user input; the CLI prints it and exits with ``exit_code``."""

    exit_code = 1

    def __init__(
        self,
        what: str,
        *,
        where: Location | None = None,
        formula: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.what = what
        self.where = where or Location()
        self.formula = formula
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.formula:
            text += f" ({self.formula})"
        if not text.endswith((".", "?", "!")):
            text += "."
        if self.fix:
            text += f" Fix: {self.fix}"
            if not text.endswith((".", "?", "!")):
                text += "."
        return text

    def located(self, where: Location) -> ArchcalcError:
        """The same error with the missing parts of its location filled in from ``where``."""
        merged = Location(
            **{
                key: getattr(self.where, key) if getattr(self.where, key) is not None else value
                for key, value in vars(where).items()
            }
        )
        clone = type(self).__new__(type(self))
        ArchcalcError.__init__(clone, self.what, where=merged, formula=self.formula, fix=self.fix)
        return clone


class SpecError(ArchcalcError):
    """The spec file cannot be read or does not follow the spec language."""


class ShapeError(ArchcalcError):
    """A layer cannot be applied to the shape it receives."""


class FitError(ShapeError):
    """A sliding window does not fit its input: the kernel is larger than the padded input,
    or (W − F_eff + P)/S + 1 is not a whole number under exact rounding."""


class GraphError(ArchcalcError):
    """The layers do not form a valid directed acyclic graph."""


class RenderError(ArchcalcError):
    """A diagram cannot be rendered in the requested format."""


class ExecError(ArchcalcError):
    """The NumPy executor cannot run, or found a disagreement with the analysis."""


class OutputError(ArchcalcError):
    """An output file cannot be written (exists without --force, unwritable, ...)."""
