"""Cluster-robust CR1 covariance from one streamed pass: labels read alongside the rows.

``with_cov("cluster", groups="firm")`` on a file, dask or frame fit asks the source for its
blocks with the ``firm`` column of the same rows (``Source.label_blocks``). Each block's
scores ``Qᵢ ẽᵢ`` (:mod:`._rows`) are added into their cluster's sum ``u_g`` as the block goes
by; labels become codes in order of first appearance (a dict of the labels seen). Memory is
``O(G · r · q)`` for the sums (two-way: also the ``G₁₂`` intersections) and one block; no
column of the data is held. The meat and small-sample factor are those of :mod:`._cluster`
(Liang & Zeger 1986 CR1, ``G/(G-1)·(n-1)/(n-r)``, as Stata and statsmodels; two-way as
Cameron, Gelbach & Miller 2011, ``V₁ + V₂ - V₁₂``), with ``G - 1`` degrees of freedom
(``min(G₁, G₂) - 1`` two-way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ._cluster import ClusterAccumulator, cr1_factor
from ._rows import block_rows, row_map

if TYPE_CHECKING:
    from .result import RegressionResult

__all__ = ["LabelCodes", "gathered_labels", "streamed_cr1"]


class LabelCodes:
    """Labels to codes ``0, 1, ...`` in order of first appearance, one block at a time.

    Labels are compared as text (:func:`_key`), as :func:`._cluster.group_codes` compares
    text labels, so ``7`` in one file and ``7.0`` or ``"7"`` in another are one cluster.
    """

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}

    def __len__(self) -> int:
        return len(self.index)

    def codes(self, labels: Any) -> np.ndarray:
        """(b,) int64 codes of ``labels`` (b,); new labels get the next codes.

        ``labels`` is an array, or coded labels (``.codes`` (b,) into ``.levels``, as
        ``olsnet.data._labels.CodedLabels``: only the levels are looked up).
        """
        levels = getattr(labels, "levels", None)
        if levels is not None:
            index = self.index
            lookup = np.fromiter(
                (index.setdefault(_key(v), len(index)) for v in levels.tolist()),
                dtype=np.int64,
                count=len(levels),
            )
            return lookup[labels.codes]
        labels = np.asarray(labels)
        if labels.dtype == object:
            labels = labels.astype(str)
        if labels.size == 0:
            return np.zeros(0, dtype=np.int64)
        uniq, inverse = np.unique(labels, return_inverse=True)
        index = self.index
        lookup = np.fromiter(
            (index.setdefault(_key(u), len(index)) for u in uniq.tolist()),
            dtype=np.int64,
            count=uniq.size,
        )
        return lookup[inverse.reshape(-1)]


def _key(label: Any) -> str:
    """A label as the text that identifies its cluster across blocks and files: ``7``,
    ``7.0`` and ``"7"`` are one cluster (one file may store as int64 what another stores as
    double or text)."""
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)


class _GrowingSums(ClusterAccumulator):
    """:class:`ClusterAccumulator` whose number of clusters grows as new codes arrive."""

    def __init__(self, r: int, q: int) -> None:
        super().__init__(16, r, q)

    def fold(self, Q: np.ndarray, E: np.ndarray, codes: np.ndarray) -> None:
        need = int(codes.max()) + 1 if codes.size else 0
        if need > self.sums.shape[0]:
            grown = np.zeros((max(need, 2 * self.sums.shape[0]), *self.sums.shape[1:]))
            grown[: self.sums.shape[0]] = self.sums
            self.sums = grown
        super().fold(Q, E, codes)

    def meats_of(self, n_groups: int) -> np.ndarray:
        self.sums = self.sums[:n_groups]
        return self.meats()


def streamed_cr1(
    res: RegressionResult, names: Sequence[str], use_correction: bool = True
) -> tuple[np.ndarray, float, tuple[tuple[str, Any], ...]]:
    """CR1 middle (q, r, r), t/F degrees of freedom and description of ``with_cov`` options,
    clustered on the columns ``names`` (one or two) of the result's source, in one pass.

    Raises
    ------
    DataError
        No data attached, fewer than 2 clusters (a missing label or an unknown column is
        raised by the source, naming the row or the close matches).
    """
    source = res.source
    if source is None or not hasattr(source, "label_blocks"):
        raise DataError(
            "cov_type='cluster' with groups= a column name needs the rows the model was fitted "
            "on (a second pass), and none are attached; pass the labels as an array"
        )
    names = tuple(names)
    sol = res.solution
    r, q = sol.rank, sol.n_outputs
    M = row_map(sol)
    ways = [LabelCodes() for _ in names]
    sums = [_GrowingSums(r, q) for _ in names]
    pairs = LabelCodes() if len(names) == 2 else None
    pair_sums = _GrowingSums(r, q) if pairs is not None else None
    for X, Y, w, labels in source.label_blocks(names):
        Q, fitted, Yb, wv = block_rows(sol, M, X, Y, w)
        E = (Yb - fitted) * np.sqrt(wv)[:, None]  # weighted residuals (b, q)
        codes = [way.codes(v) for way, v in zip(ways, labels, strict=True)]
        for acc, c in zip(sums, codes, strict=True):
            acc.fold(Q, E, c)
        if pairs is not None and pair_sums is not None:
            pair_sums.fold(Q, E, pairs.codes(codes[0] * (1 << 31) + codes[1]))
    counts = [len(way) for way in ways]
    for name, g in zip(names, counts, strict=True):
        if g < 2:
            raise DataError(
                f"groups column {name!r} has {g} cluster(s); a cluster-robust covariance needs "
                "at least 2 (it has G - 1 degrees of freedom)"
            )

    def factor(g: int) -> float:
        return cr1_factor(g, res.nobs, res.rank) if use_correction else 1.0

    middle = sum(
        (factor(g) * acc.meats_of(g) for acc, g in zip(sums, counts, strict=True)),
        start=np.zeros((q, r, r)),
    )
    if pairs is not None and pair_sums is not None:
        g12 = len(pairs)
        middle = middle - factor(g12) * pair_sums.meats_of(g12)
        kwds: tuple[tuple[str, Any], ...] = (
            ("groups", "two-way"),
            ("n_groups", (counts[0], counts[1])),
            ("cluster_type", "CR1"),
        )
        return middle, float(min(counts) - 1), kwds
    return (
        middle,
        float(counts[0] - 1),
        (
            ("groups", "one-way"),
            ("n_groups", counts[0]),
            ("cluster_type", "CR1"),
        ),
    )


def gathered_labels(res: RegressionResult, names: Sequence[str]) -> list[np.ndarray]:
    """The label columns ``names`` of the result's source as (n,) arrays (CR2 / CR3, which
    work cluster by cluster on the rows: the labels are held, one value per row)."""
    if res.source is None or not hasattr(res.source, "label_blocks"):
        raise DataError("groups= a column name needs the rows the model was fitted on")
    parts: list[list[np.ndarray]] = [[] for _ in names]
    for _X, _Y, _w, labels in res.source.label_blocks(tuple(names)):
        for part, v in zip(parts, labels, strict=True):
            part.append(np.asarray(v))
    return [np.concatenate(p) if p else np.zeros(0) for p in parts]
