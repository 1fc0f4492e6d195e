"""An in-memory source whose label columns come from the frame its rows were encoded from.

``olsnet.ols("invest ~ value + capital", df)`` fits the encoded design; the frame's other
columns (``firm``) stay available to ``with_cov("cluster", groups="firm")`` through
:class:`FrameLabels`, which reads them block by block alongside the rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import DataError, DimensionError
from ..solve import QRState
from ..solve._residuals import ResidualPass
from ._columns import row_label
from ._labels import check_label_names, first_missing_label, label_array
from .source import Block, LabelBlock, OnBatch, Source

__all__ = ["FrameLabels"]


class FrameLabels(Source):
    """``inner``'s rows, with label columns read from ``frame`` (one frame row per row of
    ``inner``, in order).

    Every pass is ``inner``'s; only :meth:`label_blocks` reads the frame.
    """

    def __init__(self, inner: Source, frame: Any) -> None:
        self.inner = inner
        self.frame = frame
        self.feature_names = inner.feature_names
        self.target_names = inner.target_names
        self.y_ndim = inner.y_ndim
        self.weighted = inner.weighted
        self.fit_intercept = inner.fit_intercept
        self.n_dropped = inner.n_dropped
        self.names_from_frame = inner.names_from_frame

    def blocks(self) -> Iterator[Block]:
        return self.inner.blocks()

    def fit_state(self, fit_intercept: bool, **kwargs: Any) -> QRState:
        return self.inner.fit_state(fit_intercept, **kwargs)

    def residual_pass(self, *args: Any, **kwargs: Any) -> ResidualPass:
        return self.inner.residual_pass(*args, **kwargs)

    def label_blocks(
        self, names: Sequence[str], *, on_batch: OnBatch | None = None
    ) -> Iterator[LabelBlock]:
        """:meth:`Source.label_blocks` for any column of the frame.

        Raises
        ------
        DimensionError
            A name that is not a column of the frame (close matches named).
        DataError
            A missing label (the frame's row named).
        """
        names = tuple(names)
        check_label_names(names, self.frame.columns, "the DataFrame", DimensionError)
        start = 0
        for X, Y, w in self.inner.blocks():
            rows = self.frame.iloc[start : start + X.shape[0]]
            if on_batch is not None:
                on_batch(X.shape[0], 0)
            labels = tuple(label_array(rows[c]) for c in names)
            for name, v in zip(names, labels, strict=True):
                i = first_missing_label(v)
                if i is not None:
                    raise DataError(
                        f"groups column {name!r} has a missing label at "
                        f"{row_label(rows.index, i)}; every row of the fit needs a cluster "
                        "(drop those rows or fill them in)"
                    )
            start += X.shape[0]
            yield X, Y, w, labels
        if start != len(self.frame):
            raise DimensionError(f"the frame has {len(self.frame)} rows; the fit {start}")
