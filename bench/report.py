"""The report: figures paired ours/peer, printed as a table or written as JSON."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bench.part import Measurement

_COLUMNS = ("figure", "unit", "ours", "peer", "ours/peer", "better")
_LEFT_ALIGNED = {0, 1, 5}
_TIE = 0.05  # within 5% either way is no better than run-to-run noise on a shared machine


@dataclass(frozen=True)
class Row:
    """One figure with each side's value (None when that side did not run it)."""

    key: str
    label: str
    unit: str
    higher_is_better: bool
    ours: float | None = None
    peer: float | None = None

    @property
    def ratio(self) -> float | None:
        """Return ours divided by the peer's value, when both are known."""
        if self.ours is None or not self.peer:
            return None
        return self.ours / self.peer

    @property
    def better(self) -> str:
        """Return which side did better: "ours", "peer", "tie" (within 5%), "" if one side ran."""
        if self.ratio is None:
            return ""
        if abs(self.ratio - 1) < _TIE:
            return "tie"
        return "ours" if (self.ratio > 1) == self.higher_is_better else "peer"


@dataclass
class Report:
    """Every figure of a run, with header lines saying where and at what sizes it ran."""

    header: list[str]
    measurements: list[Measurement] = field(default_factory=list)

    def rows(self) -> list[Row]:
        """Return one row per figure key, in the order the figures were first measured."""
        rows: dict[str, Row] = {}
        for m in self.measurements:
            row = rows.get(m.key) or Row(m.key, m.label, m.unit, m.higher_is_better)
            rows[m.key] = (
                replace(row, ours=m.value) if m.side == "ours" else replace(row, peer=m.value)
            )
        return list(rows.values())

    def as_table(self) -> str:
        """Return the header lines and a plain-text table of every figure."""
        lines = [_COLUMNS, *(_cells(row) for row in self.rows())]
        widths = [max(len(line[i]) for line in lines) for i in range(len(_COLUMNS))]
        return "\n".join([*self.header, "", *(_joined(line, widths) for line in lines)])

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        figures = [{**asdict(row), "ratio": row.ratio, "better": row.better} for row in self.rows()]
        return {"header": self.header, "figures": figures}


def _cells(row: Row) -> Sequence[str]:
    return (
        row.label,
        row.unit,
        _number(row.ours, row.unit),
        _number(row.peer, row.unit),
        "-" if row.ratio is None else f"{row.ratio:.2f}",
        row.better,
    )


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "share":
        return f"{value:.3f}"  # precision and recall: .999 is not 1.00
    return f"{value:,.2f}" if unit in ("ms", "s") else f"{value:,.0f}"


def _joined(cells: Sequence[str], widths: Sequence[int]) -> str:
    aligned = (
        cell.ljust(width) if column in _LEFT_ALIGNED else cell.rjust(width)
        for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )
    return "  ".join(aligned).rstrip()
