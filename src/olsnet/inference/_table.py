"""A small immutable table with text, markdown, HTML, pandas and JSON renderings.

Every table olsnet shows (regression summaries, network comparisons, benchmarks) is a
:class:`Table`. A cell is a ``str``, ``int``, ``float``, ``None`` (blank) or a
:class:`NotAvailable`, which renders as ``n/a`` with a numbered note giving the reason, so a
statistic that does not apply never crashes a rendering and never hides why it is missing.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._deps import require

__all__ = ["Cell", "NotAvailable", "Table", "format_cell"]


@dataclass(frozen=True)
class NotAvailable:
    """A statistic that does not apply; ``reason`` says why (rendered as a note)."""

    reason: str

    def __str__(self) -> str:
        return "n/a"


class Formatted(float):
    """A float that renders with its own format ``spec`` (e.g. R² and adjusted R² with the
    same decimals in a key-value column); it is a plain float everywhere else (JSON, frames)."""

    spec: str

    def __new__(cls, value: float, spec: str) -> Formatted:
        obj = super().__new__(cls, value)
        obj.spec = spec
        return obj


Cell = str | int | float | None | NotAvailable


def column_spec(values: Sequence[Cell]) -> str:
    """One format for every float of a column, so its decimals line up: scientific with four
    decimals when a value is >= 1e6 or below 1e-4 in magnitude, else four fixed decimals."""
    floats = [abs(float(v)) for v in values if isinstance(v, float) and math.isfinite(v)]
    if any(a != 0.0 and (a >= 1e6 or a < 1e-4) for a in floats):
        return ".4e"
    return ".4f"


def format_cell(value: Cell, spec: str = "") -> str:
    """One cell as text: floats with ``spec`` (default: four decimals, scientific outside
    [1e-4, 1e6)), None blank."""
    if isinstance(value, Formatted):
        spec = value.spec
    if value is None:
        return ""
    if isinstance(value, NotAvailable):
        return "n/a"
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if spec:
        return format(v, spec)
    a = abs(v)
    if a != 0.0 and (a >= 1e6 or a < 1e-4):
        return f"{v:.4e}"
    return f"{v:.6g}" if a >= 1e4 else f"{v:.4f}"


def _is_numeric(value: Cell) -> bool:
    return isinstance(value, (int, float, NotAvailable)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Table:
    """An immutable table: ``title``, ``header`` (column labels, may be empty), ``rows``, ``notes``.

    Parameters
    ----------
    title : str
        Shown centred above the text rendering, as a caption in HTML, as a heading in markdown.
    header : tuple of str
        Column labels; ``()`` for a key-value block without a header row.
    rows : tuple of tuple of Cell
        Every row has ``len(header)`` cells (when there is a header).
    notes : tuple of str
        Shown below the table. Reasons of :class:`NotAvailable` cells are added as numbered
        notes ``[1] ...`` and the cells render as ``n/a [1]``.
    formats : tuple of str
        Per-column ``format`` spec for float cells (``""``: 6 significant digits).
    align : str
        Per-column ``"l"`` or ``"r"``; by default the first column and text columns are
        left-aligned, numeric columns right-aligned.
    reasons : tuple of str
        Reasons numbered first (so tables stacked in a summary share one numbering).

    Examples
    --------
    >>> t = Table("Demo", ("name", "value"), (("a", 1.5), ("b", NotAvailable("no data"))))
    >>> print(t.as_text())
         Demo
    ==============
    name     value
    --------------
    a       1.5000
    b      n/a [1]
    ==============
    [1] no data
    """

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[str, ...] = ()
    formats: tuple[str, ...] = field(default=())
    align: str = ""
    reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "header", tuple(str(h) for h in self.header))
        object.__setattr__(self, "rows", tuple(tuple(r) for r in self.rows))
        object.__setattr__(self, "notes", tuple(str(n) for n in self.notes))
        object.__setattr__(self, "formats", tuple(self.formats))
        width = len(self.header)
        for i, row in enumerate(self.rows):
            if width and len(row) != width:
                raise ValueError(
                    f"table {self.title!r}: row {i} has {len(row)} cells, the header has {width}"
                )

    @property
    def n_columns(self) -> int:
        return len(self.header) if self.header else max((len(r) for r in self.rows), default=0)

    # -- cells -------------------------------------------------------------------------------
    def _reasons(self) -> list[str]:
        """Distinct reasons of NotAvailable cells, in reading order."""
        seen: list[str] = list(self.reasons)
        for row in self.rows:
            for c in row:
                if isinstance(c, NotAvailable) and c.reason not in seen:
                    seen.append(c.reason)
        return seen

    def _specs(self) -> list[str]:
        """Each column's float format: its ``formats`` entry, else one rule for the column."""
        return [
            self.formats[j]
            if j < len(self.formats) and self.formats[j]
            else column_spec([r[j] for r in self.rows if j < len(r)])
            for j in range(self.n_columns)
        ]

    def _cell_text(self, c: Cell, spec: str, reasons: list[str]) -> str:
        if isinstance(c, NotAvailable):
            return f"n/a [{reasons.index(c.reason) + 1}]"
        return format_cell(c, spec)

    def _text_rows(self) -> list[list[str]]:
        reasons, specs = self._reasons(), self._specs()
        return [
            [self._cell_text(c, specs[j], reasons) for j, c in enumerate(row)] for row in self.rows
        ]

    def all_notes(self) -> tuple[str, ...]:
        """The notes followed by the numbered reasons of n/a cells."""
        return self.notes + tuple(f"[{i + 1}] {r}" for i, r in enumerate(self._reasons()))

    # -- renderings ----------------------------------------------------------------------------
    def _numeric_columns(self) -> list[bool]:
        k = self.n_columns
        out = []
        for j in range(k):
            cells = [r[j] for r in self.rows if j < len(r) and r[j] is not None]
            out.append(bool(cells) and all(_is_numeric(c) for c in cells))
        return out

    def _right_aligned(self) -> list[bool]:
        numeric = self._numeric_columns()
        return [
            self.align[j] == "r" if j < len(self.align) else (j > 0 and numeric[j])
            for j in range(self.n_columns)
        ]

    def text_width(self) -> int:
        """Width of the text rendering without padding."""
        return len(self._text_lines(0, False)[-1])

    def _text_lines(self, width: int, notes: bool = True) -> list[str]:
        body = self._text_rows()
        k = self.n_columns
        widths = [0] * k
        for row in ([list(self.header)] if self.header else []) + body:
            for j, s in enumerate(row):
                widths[j] = max(widths[j], len(s))
        natural = sum(widths) + 3 * max(k - 1, 0)
        extra = max(width - natural, 0)
        if k:  # spread extra space over the gaps so the table fills the requested width
            gaps = [3] * (k - 1)
            for i in range(extra):
                if gaps:
                    gaps[i % len(gaps)] += 1
                else:
                    widths[0] += 1

        right = self._right_aligned()

        def line(cells: Sequence[str]) -> str:
            parts = []
            for j, s in enumerate(cells):
                cell = s.rjust(widths[j]) if right[j] else s.ljust(widths[j])
                parts.append(cell + (" " * gaps[j] if j < k - 1 else ""))
            return "".join(parts).rstrip()

        total = max(natural + extra, len(self.title), width)
        out = [self.title.center(total).rstrip()] if self.title else []
        out.append("=" * total)
        if self.header:
            out.append(line(self.header))
            out.append("-" * total)
        out.extend(line(r) for r in body)
        out.append("=" * total)
        if notes:
            out.extend(self.all_notes())
        return out

    def as_text(self, width: int = 0, notes: bool = True) -> str:
        """Aligned monospace text (statsmodels / R style).

        ``width`` widens the table to at least that many characters; ``notes=False`` leaves
        the notes out (for stacking tables, as :class:`~olsnet.inference.Summary` does).
        """
        return "\n".join(self._text_lines(width, notes))

    def __str__(self) -> str:
        return self.as_text()

    def as_markdown(self) -> str:
        """GitHub-flavoured markdown: a bold title, a pipe table, the notes as a list."""
        body = self._text_rows()
        k = self.n_columns
        right = self._right_aligned()
        header = list(self.header) if self.header else [""] * k
        esc = [h.replace("|", "\\|") for h in header]
        out = [f"**{self.title}**", ""] if self.title else []
        out.append("| " + " | ".join(esc) + " |")
        out.append("|" + "|".join("---:" if right[j] else ":---" for j in range(k)) + "|")
        for row in body:
            out.append("| " + " | ".join(s.replace("|", "\\|") for s in row) + " |")
        notes = self.all_notes()
        if notes:
            out.append("")
            out.extend(f"- {n}" for n in notes)
        return "\n".join(out)

    def as_html(self) -> str:
        """An HTML ``<table>`` with a caption and the notes in a footer."""
        body = self._text_rows()
        numeric = self._numeric_columns()
        right = self._right_aligned()
        e = html.escape
        out = ['<table class="olsnet-table">']
        if self.title:
            out.append(f"<caption>{e(self.title)}</caption>")
        if self.header:
            out.append(
                "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in self.header) + "</tr></thead>"
            )
        out.append("<tbody>")
        for row in body:
            cells = []
            for j, s in enumerate(row):
                tag = "th" if j == 0 and not numeric[0] else "td"
                align = ' style="text-align:right"' if right[j] else ""
                cells.append(f"<{tag}{align}>{e(s)}</{tag}>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody>")
        notes = self.all_notes()
        if notes:
            span = max(self.n_columns, 1)
            out.append(
                f'<tfoot><tr><td colspan="{span}">'
                + "<br>".join(e(n) for n in notes)
                + "</td></tr></tfoot>"
            )
        out.append("</table>")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        return self.as_html()

    def to_frame(self, index: bool = True) -> Any:
        """A pandas DataFrame (pandas imported here); n/a cells become NaN.

        With ``index=True`` and a text first column, that column becomes the index.
        """
        pd = require("pandas", "to_frame (a pandas DataFrame)")

        def plain(c: Cell) -> Any:
            return float("nan") if isinstance(c, NotAvailable) else c

        k = self.n_columns
        columns = list(self.header) if self.header else [f"col{j}" for j in range(k)]
        data = [[plain(c) for c in row] for row in self.rows]
        frame = pd.DataFrame(data, columns=columns)
        numeric = self._numeric_columns()
        if index and k > 1 and not numeric[0]:
            frame = frame.set_index(columns[0])
        frame.attrs["title"] = self.title
        frame.attrs["notes"] = list(self.all_notes())
        return frame

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: NaN and inf become None, n/a cells ``{"not_available": reason}``."""

        def plain(c: Cell) -> Any:
            if isinstance(c, NotAvailable):
                return {"not_available": c.reason}
            if isinstance(c, float) and not math.isfinite(c):
                return None
            return c

        return {
            "title": self.title,
            "header": list(self.header),
            "rows": [[plain(c) for c in row] for row in self.rows],
            "notes": list(self.notes),
        }
