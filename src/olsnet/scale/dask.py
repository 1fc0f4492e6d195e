"""Dask arrays and DataFrames as block sources: partitions reduced to QR states on the cluster.

``as_source(X, y, sample_weight)`` lines the inputs up as one dask array ``Z = [X Y w]`` with
a single column chunk (rows stay where dask put them). Each row chunk becomes its QR state
(``map_blocks``), packed into one float64 row, and ``dask.array.reduction`` merges the rows
in a tree (``split_every`` states per node), so only (k, k) states ever travel between
workers. The second pass, for residual statistics, is the same shape: each partition's
residual pass (``olsnet.inference.covariance.residual_pass``) is packed, summed in a tree and
unpacked. Dask's own schedulers run everything: threads, processes or a ``distributed``
cluster, whichever is active.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .._types import MISSING_POLICIES, check_option
from ..data._labels import check_label_names, first_missing_label, label_array
from ..data.source import LabelBlock, OnBatch, Source
from ..errors import DataError, DimensionError, InputTypeError, OptionError
from ..solve import QRState
from ..solve._fold import fold_arrays, nonfinite_at
from ..solve._residuals import HC_MEATS, ResidualPass, residual_pass

__all__ = ["DaskSource", "as_source", "predict_lazy", "read_dask"]

SPLIT_EVERY = 8  # states merged per tree node: (8 k, k) QRs, depth log8(partitions)

Block = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _is_frame(obj: Any) -> bool:
    return hasattr(obj, "npartitions") and hasattr(obj, "to_dask_array")


def _frame_names(obj: Any, what: str) -> tuple[str, ...]:
    """Column names of a dask DataFrame (or a Series' name), refusing non-numeric columns."""
    import pandas as pd

    if obj.ndim == 2:
        names, dtypes = [str(c) for c in obj.columns], list(obj.dtypes)
    else:
        names, dtypes = [str(obj.name) if obj.name is not None else "y"], [obj.dtype]
    for name, dtype in zip(names, dtypes, strict=True):
        numeric = pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
        if not numeric or isinstance(dtype, pd.CategoricalDtype):
            raise InputTypeError(
                f"{what} column {name!r} has dtype {dtype}, which is not numeric; compute the "
                "encoded columns first (e.g. with dask_ml.preprocessing), or read the data with "
                "a formula: olsnet.read(path, formula='y ~ C(column)')"
            )
    return tuple(names)


def _as_dask_array(obj: Any, what: str, rows_like: Any) -> tuple[Any, tuple[str, ...] | None]:
    """(2-D dask array, column names or None) of a dask / NumPy input."""
    import dask.array as da

    names = None
    if _is_frame(obj):
        names = _frame_names(obj, what)
        arr = obj.to_dask_array()
    elif isinstance(obj, da.Array):
        arr = obj
    else:  # NumPy / list next to a dask partner: chunk it like the partner
        arr = np.asarray(obj)
        if rows_like is None or np.isnan(rows_like.shape[0]):
            raise InputTypeError(
                f"{what} is in memory while the other inputs are dask collections with unknown "
                "partition lengths; pass it as a dask collection partitioned like X"
            )
        arr = da.from_array(arr, chunks=(rows_like.chunks[0], *arr.shape[1:]))
    if arr.dtype.kind not in "biuf":
        raise InputTypeError(f"{what} has dtype {arr.dtype}; only real numbers are accepted")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DimensionError(f"{what} must be 1-D or 2-D; got shape {arr.shape}")
    return arr.astype(np.float64), names


def _align(arr: Any, rows: tuple[float, ...], what: str) -> Any:
    """``arr`` re-chunked along rows like X (when the chunk sizes are known)."""
    if arr.chunks[0] == rows:
        return arr
    if any(np.isnan(c) for c in arr.chunks[0] + rows):
        if len(arr.chunks[0]) != len(rows):
            raise DimensionError(
                f"{what} has {len(arr.chunks[0])} partitions and X has {len(rows)}; pass "
                "columns of the same dask DataFrame (df[features], df[target])"
            )
        return arr
    if arr.shape[0] != sum(rows):
        raise DimensionError(
            f"X and {what} have different numbers of rows: X has {int(sum(rows))} samples, "
            f"{what} has {arr.shape[0]}"
        )
    return arr.rechunk({0: rows})


def as_source(X: Any, y: Any, sample_weight: Any = None) -> DaskSource:
    """A block source over dask inputs, fitted on the active dask scheduler.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features) or dask DataFrame
    y : dask.array.Array of shape (n_samples,) or (n_samples, n_outputs), dask Series/DataFrame
        Partitioned like X (columns of the same DataFrame, or arrays with the same row chunks;
        arrays with known chunk sizes are re-chunked to X's).
    sample_weight : dask or NumPy array of shape (n_samples,), optional

    Returns
    -------
    DaskSource
        ``LinearRegression().fit(source)`` reduces every partition to a QR state where it
        lives; nothing is computed until then.

    Examples
    --------
    >>> import dask.array as da                                   # doctest: +SKIP
    >>> X = da.random.random((1_000_000, 5), chunks=(100_000, 5))  # doctest: +SKIP
    >>> src = as_source(X, X @ np.arange(5.0))                     # doctest: +SKIP
    """
    import dask.array as da

    inputs = [X, y] + ([] if sample_weight is None else [sample_weight])
    Xa, xnames = _as_dask_array(X, "X", None)
    Ya, ynames = _as_dask_array(y, "y", Xa)
    if sample_weight is not None and getattr(sample_weight, "ndim", 1) != 1:
        raise DimensionError(
            f"sample_weight must be 1-D (n_samples,); got {sample_weight.ndim} dimensions"
        )
    if all(_is_frame(obj) for obj in inputs):
        # one frame, converted once: dask may partition each projection of a Parquet dataset
        # differently (it fuses small partitions), so X and y converted apart could misalign
        Z = _frames_as_array(inputs)
    else:
        parts = [Xa, _align(Ya, Xa.chunks[0], "y")]
        if sample_weight is not None:
            Wa, _ = _as_dask_array(sample_weight, "sample_weight", Xa)
            parts.append(_align(Wa, Xa.chunks[0], "sample_weight"))
        Z = da.concatenate(parts, axis=1, allow_unknown_chunksizes=True)
    Z = Z.rechunk({1: -1})  # one column chunk: a block holds whole rows
    p, q = Xa.shape[1], Ya.shape[1]
    y_is_1d = getattr(y, "ndim", 2) == 1
    feature_names = xnames or tuple(f"x{j + 1}" for j in range(p))
    target_names = ynames or (("y",) if q == 1 else tuple(f"y{j}" for j in range(q)))
    source = DaskSource(
        Z, feature_names, target_names, 1 if y_is_1d else 2, sample_weight is not None
    )
    if _is_frame(X) and X.ndim == 2:
        source.frame = X  # its columns are labels too (groups= a feature column)
    return source


def _frames_as_array(frames: list[Any]) -> Any:
    """Dask DataFrames / Series side by side (columns renamed apart) as one dask array."""
    import dask.dataframe as dd

    parts, j = [], 0
    for f in frames:
        if f.ndim == 1:
            parts.append(f.to_frame(name=f"c{j}"))
            j += 1
        else:
            parts.append(f.rename(columns={c: f"c{j + i}" for i, c in enumerate(f.columns)}))
            j += len(f.columns)
    return dd.concat(parts, axis=1).to_dask_array().astype(np.float64)


def read_dask(
    path_or_glob: Any,
    *,
    y: str | list[str] | None = None,
    x: list[str] | None = None,
    weights: str | None = None,
    formula: str | None = None,
    missing: str = "raise",
    **read_kwargs: Any,
) -> DaskSource:
    """CSV / Parquet files read by ``dask.dataframe`` (or a dask DataFrame) as a dask-backed
    source.

    ``read_kwargs`` go to ``dask.dataframe.read_parquet`` / ``read_csv`` (``blocksize``, ...).
    Use it to fit files on a ``distributed`` cluster; ``olsnet.read`` streams on one machine.
    ``formula="y ~ np.log(x) + C(g)"`` instead of ``y`` / ``x`` encodes each partition with
    one model spec (levels gathered in a first pass; ``missing`` applies to it, as for
    ``olsnet.ols``; see :mod:`olsnet.scale.dask_formula`). With ``y`` / ``x``, ``missing``
    is ``"raise"`` only (drop rows with dask first); another value raises ``OptionError``.
    """
    import dask.dataframe as dd

    check_option("missing", missing, MISSING_POLICIES)
    if formula is None and missing != "raise":
        raise OptionError(
            f"read_dask(y=...) takes missing='raise' only (got {missing!r}): drop the rows with "
            "dask first (df.dropna(subset=[...])), or pass formula=, which applies missing="
        )
    if _is_frame(path_or_glob) and getattr(path_or_glob, "ndim", 2) == 2:
        if read_kwargs:
            raise InputTypeError(
                f"read_dask() got a dask DataFrame and reading options {sorted(read_kwargs)}; "
                "the options apply to files only"
            )
        df = path_or_glob  # a dask DataFrame already: the same source as read from files
    else:
        text = str(path_or_glob)
        lower = text.lower()
        is_parquet = lower.endswith((".parquet", ".pq")) or "parquet" in lower.rsplit("/", 1)[-1]
        reader = dd.read_parquet if is_parquet else dd.read_csv
        df = reader(text, **read_kwargs)
    if formula is not None:
        from .dask_formula import formula_source

        if y is not None or x is not None:
            raise InputTypeError("pass either formula= or y= / x=, not both")
        return formula_source(formula, df, weights=weights, missing=missing)
    if y is None:
        raise InputTypeError("read_dask() needs y= (the target column) or formula=")
    ys = [y] if isinstance(y, str) else list(y)
    xs = list(x) if x is not None else [c for c in df.columns if c not in {*ys, weights}]
    target = df[ys[0]] if isinstance(y, str) else df[ys]
    source = as_source(df[xs], target, df[weights] if weights else None)
    source.frame = df  # every column: with_cov("cluster", groups="firm") reads it per partition
    return source


# ------------------------------------------------------------------ packing states into rows


def _pack_state(s: QRState) -> np.ndarray:
    """(1, k² + 2 + p + q) row: R, nobs, sum of weights, zsum (shift is always zero here)."""
    zsum = np.zeros(s.n_features + s.n_outputs) if s.zsum is None else s.zsum
    return np.concatenate([s.R.ravel(), [s.nobs, s.sum_weights], zsum])[None, :]


def _unpack_state(row: np.ndarray, p: int, q: int, fit_intercept: bool) -> QRState:
    k = int(fit_intercept) + p + q
    R = row[: k * k].reshape(k, k).copy()
    nobs, sw = int(row[k * k]), float(row[k * k + 1])
    if nobs == 0:
        return QRState.empty(p, q, fit_intercept)
    return QRState(R, np.zeros(p + q), p, q, fit_intercept, nobs, sw, row[k * k + 2 :].copy())


def _split(Z: np.ndarray, p: int, q: int, weighted: bool) -> Block:
    return Z[:, :p], Z[:, p : p + q], Z[:, p + q] if weighted else None


def _check_block(
    Z: np.ndarray, p: int, q: int, weighted: bool, where: str, names: tuple[str, ...]
) -> Block:
    X, Y, w = _split(Z, p, q, weighted)
    found = nonfinite_at(X, Y)
    if found is not None:
        i, what, j = found
        col = names[j] if what == "X" else names[p + j]
        raise DataError(
            f"{where}, row {i}: column {col!r} holds {Z[i, j if what == 'X' else p + j]}"
            "; dask inputs must be finite (drop or fill missing values with dask "
            "first, e.g. df.dropna())"
        )
    if w is not None and not (np.isfinite(w) & (w >= 0)).all():
        i = int(np.flatnonzero(~(np.isfinite(w) & (w >= 0)))[0])
        raise DataError(
            f"{where}, row {i}: sample_weight {w[i]} is not allowed; weights must "
            "be finite and >= 0"
        )
    return X, Y, w


def _partition_state(
    Z: np.ndarray,
    p: int,
    q: int,
    weighted: bool,
    fit_intercept: bool,
    names: tuple[str, ...],
    block_info: Any = None,
) -> np.ndarray:
    """map_blocks kernel: one partition (b, p + q [+ 1]) -> its packed QR state (1, L)."""
    index = block_info[0]["chunk-location"][0] if block_info else "?"
    X, Y, w = _check_block(Z, p, q, weighted, f"partition {index}", names)
    # no BLAS thread limit here: distributed's nannies start workers with one BLAS thread, and
    # dtpqrt on k ~ 20 columns hardly uses more on the threads scheduler
    return _pack_state(fold_arrays(X, Y, w, fit_intercept))


def _merge_packed(
    rows: np.ndarray,
    axis: Any = None,
    keepdims: bool = True,
    *,
    p: int,
    q: int,
    fit_intercept: bool,
) -> np.ndarray:
    """reduction combine/aggregate: (m, L) packed states -> (1, L), merged in row order."""
    total = QRState.empty(p, q, fit_intercept)
    for row in rows:
        total = total.merge(_unpack_state(row, p, q, fit_intercept))
    return _pack_state(total)


def _pack_pass(rp: Any) -> np.ndarray:
    return np.concatenate(
        [
            rp.meats.ravel(),
            rp.ssr,
            [rp.sum_log_weights, rp.nobs, rp.max_leverage],
            rp.gradient.ravel(),
        ]
    )[None, :]


def _unpack_pass(row: np.ndarray, q: int, r: int) -> ResidualPass:
    m = q * 3 * r * r
    meats = row[:m].reshape(q, 3, r, r)
    ssr = row[m : m + q]
    slw, nobs, max_h = row[m + q : m + q + 3]
    grad = row[m + q + 3 :].reshape(r, q)
    return ResidualPass(meats.copy(), ssr.copy(), float(slw), int(nobs), float(max_h), grad.copy())


def _partition_pass(
    Z: np.ndarray,
    p: int,
    q: int,
    weighted: bool,
    names: tuple[str, ...],
    params: np.ndarray,
    R_x: np.ndarray,
    shift_x: np.ndarray,
    kept: np.ndarray,
    fit_intercept: bool,
    block_info: Any = None,
) -> np.ndarray:
    index = block_info[0]["chunk-location"][0] if block_info else "?"
    block = _check_block(Z, p, q, weighted, f"partition {index}", names)
    return _pack_pass(
        residual_pass([block], params, R_x, shift_x, kept, fit_intercept, n_threads=1)
    )


def _identity(x: np.ndarray, axis: Any = None, keepdims: bool = True) -> np.ndarray:
    return x


def _sum_passes(
    rows: np.ndarray, axis: Any = None, keepdims: bool = True, *, q: int, r: int
) -> np.ndarray:
    """reduction combine/aggregate for residual passes: sums, and the max of the leverages."""
    total = rows.sum(axis=0)
    m = q * 3 * r * r
    total[m + q + 2] = rows[:, m + q + 2].max()
    return total[None, :]


class DaskSource(Source):
    """Rows of a dask array ``Z = [X Y w]`` (one column chunk) as a block source.

    Attributes
    ----------
    Z : dask.array.Array of shape (n_samples, n_features + n_outputs [+ 1])
    feature_names, target_names : tuple of str
    y_ndim : int
        1 when y came 1-D.
    weighted : bool
        Whether the last column of Z holds sample weights.
    """

    def __init__(
        self,
        Z: Any,
        feature_names: tuple[str, ...],
        target_names: tuple[str, ...],
        y_ndim: int,
        weighted: bool,
    ) -> None:
        self.Z = Z
        self.feature_names = tuple(feature_names)
        self.target_names = tuple(target_names)
        self.y_ndim = y_ndim
        self.weighted = weighted
        self.frame: Any = None  # the dask DataFrame the rows came from (label columns)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def n_outputs(self) -> int:
        return len(self.target_names)

    @property
    def _names(self) -> tuple[str, ...]:
        return (*self.feature_names, *self.target_names)

    def _tree(self, kernel: Any, width: int, combine: Any, **kwargs: Any) -> np.ndarray:
        """map_blocks ``kernel`` over row chunks to (1, width) rows, tree-reduced by ``combine``."""
        import dask.array as da

        nparts = self.Z.numblocks[0]
        rows = self.Z.map_blocks(
            kernel,
            self.n_features,
            self.n_outputs,
            self.weighted,
            chunks=((1,) * nparts, (width,)),
            dtype=np.float64,
            meta=np.empty((0, 0)),
            **kwargs,
        )
        reduced = da.reduction(
            rows,
            chunk=_identity,
            aggregate=combine,
            combine=combine,
            axis=0,
            keepdims=True,
            concatenate=True,
            split_every=SPLIT_EVERY,
            dtype=np.float64,
            meta=np.empty((0, 0)),
            name="olsnet-tree",
        )
        return np.asarray(reduced.compute())[0]

    def fit_state(
        self, fit_intercept: bool, *, n_jobs: int | None = None, on_batch: OnBatch | None = None
    ) -> QRState:
        """QR state of every row: one state per partition, merged by dask tree reduction.

        Dask's active scheduler decides the parallelism (``n_jobs`` and ``on_batch`` are not
        used: the partitions are computed where dask puts them).
        """
        from functools import partial

        p, q = self.n_features, self.n_outputs
        k = int(fit_intercept) + p + q
        merge = partial(_merge_packed, p=p, q=q, fit_intercept=fit_intercept)
        row = self._tree(
            _partition_state,
            k * k + 2 + p + q,
            merge,
            fit_intercept=fit_intercept,
            names=self._names,
        )
        state = _unpack_state(row, p, q, fit_intercept)
        if state.nobs == 0:
            raise DataError(
                "the dask inputs hold no rows (or only rows of weight zero); nothing to fit"
            )
        return state

    def residual_pass(
        self,
        params: np.ndarray,
        R_x: np.ndarray,
        shift_x: np.ndarray,
        kept: np.ndarray,
        fit_intercept: bool,
        *,
        n_jobs: int | None = None,
        on_batch: OnBatch | None = None,
        kinds: Iterable[str] = HC_MEATS,
    ) -> ResidualPass:
        """``olsnet.inference.covariance.residual_pass`` run per partition and summed on dask.

        Same arguments and result (a ``ResidualPass``) as the in-memory function; the meats,
        sums of squares and gradients add over partitions, the largest leverage is the max.
        Every meat is computed whatever ``kinds`` asks (the pass is bound by reading the
        partitions, not by the three small products per chunk).
        """
        del kinds
        from functools import partial

        q, r = params.shape[1], R_x.shape[0]
        width = q * 3 * r * r + q + 3 + r * q
        row = self._tree(
            _partition_pass,
            width,
            partial(_sum_passes, q=q, r=r),
            names=self._names,
            params=params,
            R_x=R_x,
            shift_x=shift_x,
            kept=kept,
            fit_intercept=fit_intercept,
        )
        return _unpack_pass(row, q, r)

    def blocks(self) -> Iterator[Block]:
        """Partitions computed one at a time, in order (bounded memory, no parallelism)."""
        for i, part in enumerate(self.Z.to_delayed().ravel()):
            Z = np.asarray(part.compute(), dtype=np.float64)
            if Z.shape[0]:
                yield _check_block(
                    Z,
                    self.n_features,
                    self.n_outputs,
                    bool(self.weighted),
                    f"partition {i}",
                    self._names,
                )

    def label_blocks(
        self, names: Sequence[str], *, on_batch: OnBatch | None = None
    ) -> Iterator[LabelBlock]:
        """:meth:`Source.label_blocks` for any column of the dask DataFrame the rows came from
        (``read_dask``; ``as_source`` of a DataFrame X: its columns): each partition's rows and
        labels computed together, one partition at a time (memory: one partition).

        Raises
        ------
        DimensionError
            A name that is not a column (close matches named), or partitions that do not line
            up with the rows.
        DataError
            A missing label (partition and row named), or a row that is not finite.
        """
        names = tuple(names)
        if self.frame is None and all(isinstance(n, str) for n in names):
            yield from super().label_blocks(names, on_batch=on_batch)
            return
        z_parts = self.Z.to_delayed().ravel()
        columns = [self._label_parts(name, z_parts) for name in names]
        if any(len(c) != len(z_parts) for c in columns):
            raise DimensionError(
                f"the groups have {[len(c) for c in columns]} partitions, the rows "
                f"{len(z_parts)}; partition them as the data (columns of the same DataFrame)"
            )
        parts = zip(z_parts, zip(*columns, strict=True), strict=True)
        yield from self.labelled_partitions(parts, names, on_batch)

    def _label_parts(self, name: Any, z_parts: Any) -> list[Any]:
        """Delayed partitions of one label column: a column of ``frame`` by name, or a dask
        Series / 1-D array given as ``groups=`` (re-chunked to the rows where sizes are known)."""
        if isinstance(name, str):
            if self.frame is None:  # a feature column of the rows themselves
                check_label_names((name,), self.feature_names, "the fit's features", DimensionError)
                j = self.feature_names.index(name)
                return list(self.Z[:, j].to_delayed().ravel())
            check_label_names((name,), self.frame.columns, "the dask DataFrame", DimensionError)
            return list(self.frame[name].to_delayed())
        if getattr(name, "ndim", 1) != 1:
            raise DimensionError(f"groups must be 1-D per column; got {name.ndim} dimensions")
        if hasattr(name, "chunks") and not any(np.isnan(c) for c in name.chunks[0]):
            rows = self.Z.chunks[0]
            if not any(np.isnan(c) for c in rows):
                name = _align(name, rows, "groups")
            return list(name.to_delayed().ravel())
        return list(name.to_delayed())

    def labelled_partitions(
        self, parts: Iterator[tuple[Any, Any]], names: tuple[Any, ...], on_batch: OnBatch | None
    ) -> Iterator[LabelBlock]:
        """Blocks of ``(rows Z, labels)`` delayed pairs (labels: a frame holding ``names``, or
        one delayed column per name), computed one pair at a time."""
        import dask

        shown = [n if isinstance(n, str) else f"groups {k}" for k, n in enumerate(names)]
        for i, (zp, lp) in enumerate(parts):
            Z, got = dask.compute(zp, lp)
            Z = np.asarray(Z, dtype=np.float64)
            if isinstance(got, (tuple, list)):
                labels = tuple(label_array(v) for v in got)
            else:  # a frame of the named columns
                labels = tuple(label_array(got[c]) for c in names)
            for name, v in zip(shown, labels, strict=True):
                if len(v) != Z.shape[0]:
                    raise DimensionError(
                        f"partition {i}: {name!r} has {len(v)} labels for {Z.shape[0]} rows "
                        "of the fit; partition the groups as the data"
                    )
                j = first_missing_label(v)
                if j is not None:
                    raise DataError(
                        f"partition {i}, row {j}: column {name!r} has a missing group label; "
                        "every row of the fit needs a cluster (drop those rows or fill them in)"
                    )
            if on_batch is not None:
                on_batch(Z.shape[0], Z.nbytes)
            if Z.shape[0]:
                X, Y, w = _check_block(
                    Z, self.n_features, self.n_outputs, bool(self.weighted),
                    f"partition {i}", self._names,
                )  # fmt: skip
                yield X, Y, w, labels

    def __repr__(self) -> str:
        return (
            f"DaskSource({self.Z.numblocks[0]} partitions, y={list(self.target_names)}, "
            f"x={list(self.feature_names)})"
        )


def _predict_block(
    X: np.ndarray, coef: np.ndarray, intercept: np.ndarray, squeeze: bool
) -> np.ndarray:
    P = X @ coef.T + intercept  # (b, q)
    return P[:, 0] if squeeze else P


def predict_lazy(coef: np.ndarray, intercept: Any, X: Any) -> Any:
    """Predictions ``X coefᵀ + intercept`` as a lazy dask array (nothing is computed).

    Parameters
    ----------
    coef : ndarray of shape (n_features,) or (n_outputs, n_features)
        NaN (aliased) entries should already be zeroed by the caller.
    intercept : float or ndarray of shape (n_outputs,)
    X : dask.array.Array of shape (n_samples, n_features) or dask DataFrame

    Returns
    -------
    dask.array.Array of shape (n_samples,) for 1-D ``coef``, else (n_samples, n_outputs)
    """
    coef = np.asarray(coef, dtype=np.float64)
    squeeze = coef.ndim == 1
    C = coef[None, :] if squeeze else coef  # (q, p)
    b = np.broadcast_to(np.asarray(intercept, dtype=np.float64).ravel(), (C.shape[0],)).copy()
    Xa, _ = _as_dask_array(X, "X", None)
    if Xa.shape[1] != C.shape[1]:
        raise DimensionError(
            f"X has {Xa.shape[1]} features, but the model was fitted with {C.shape[1]} features"
        )
    Xa = Xa.rechunk({1: -1})
    if squeeze:
        return Xa.map_blocks(
            _predict_block, C, b, True, drop_axis=1, dtype=np.float64, meta=np.empty((0,))
        )
    return Xa.map_blocks(
        _predict_block,
        C,
        b,
        False,
        chunks=(Xa.chunks[0], (C.shape[0],)),
        dtype=np.float64,
        meta=np.empty((0, 0)),
    )
