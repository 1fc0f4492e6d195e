"""Exceptions and warnings raised by olsnet.

Every error derives from :class:`OlsnetError` *and* from the matching built-in exception, so
``except ValueError`` keeps working. Messages say what was checked, what is allowed, what
arrived (column, row, file, line) and, where one is known, the fix.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "AliasedColumnWarning",
    "ConvergenceError",
    "DataError",
    "DataFileError",
    "DeviceError",
    "DeviceMemoryError",
    "DimensionError",
    "FormatError",
    "FormulaError",
    "InputTypeError",
    "MissingDependencyError",
    "NotAffineError",
    "NotAvailableWarning",
    "NotFittedError",
    "OlsnetError",
    "OlsnetWarning",
    "OptionError",
    "OutputPathError",
    "PrecisionWarning",
    "RankError",
    "TimeLimitError",
    "TrainingWarning",
    "UnseenLevelError",
]


class OlsnetError(Exception):
    """Base class of every error raised by olsnet."""


class DataError(OlsnetError, ValueError):
    """Data values that cannot be used: NaN or inf, negative weights, empty data, ..."""


class DimensionError(OlsnetError, ValueError):
    """Arrays whose shapes do not fit together (lengths, feature counts, number of axes)."""


class InputTypeError(OlsnetError, TypeError):
    """An input of a type olsnet cannot use (object arrays, text columns, unknown containers)."""


class OptionError(OlsnetError, ValueError):
    """An option value outside the accepted list; the message lists the accepted values."""


class RankError(OlsnetError, np.linalg.LinAlgError):
    """A map or design whose rank does not allow the requested operation."""


class NotAffineError(OlsnetError, ValueError):
    """A model contains an operation that is not affine; the message names the node."""


class ConvergenceError(OlsnetError, ArithmeticError):
    """Training diverged (non-finite loss or weights); the message names the epoch."""


class DeviceError(OlsnetError, RuntimeError):
    """A device (GPU) that cannot run the computation, e.g. one without float64 arithmetic."""


class DeviceMemoryError(DeviceError, MemoryError):
    """The device ran out of memory; the message says how much the step needed and how to stream."""


class DataFileError(OlsnetError, ValueError):
    """A data file that cannot be read; the message names the file, line and column."""


class TimeLimitError(OlsnetError, TimeoutError):
    """A command ran past the time budget the user set (``--timeout``); names the stage."""


class FormulaError(InputTypeError, ValueError):
    """A formula that cannot be used: bad syntax (position shown), an unknown column (close
    matches named), a call outside the allowed transforms, a date where a number makes no
    sense. Also a ``TypeError`` (as formula errors always were) and a ``ValueError``."""


class UnseenLevelError(DataError):
    """A level of a categorical column that the model never saw in training (R: ``factor g
    has new level q``); the message names the column, the level and the first row."""


class FormatError(OlsnetError, ValueError):
    """A model file that is not a valid olsnet archive; nothing from it is executed."""


class MissingDependencyError(OlsnetError, ModuleNotFoundError):
    """An optional dependency a feature needs is not installed; the message names the extra
    to install (``pip install "olsnet[frames]"``). ``name`` is the missing module."""


class OutputPathError(OlsnetError, OSError):
    """An output file that cannot be written: its folder is missing or not a folder, or the
    path is a folder; the message names the path as the user gave it."""


class ResourceLimitError(OlsnetError, MemoryError):
    """An input that would need more memory than its documented, settable budget; refused
    before anything is allocated (the message names the node or member and the budget)."""


class NotFittedError(OlsnetError, ValueError, AttributeError):
    """An estimator used before ``fit``.

    Derives from :class:`ValueError` and :class:`AttributeError`, as scikit-learn's own
    NotFittedError does; see :func:`not_fitted` for catching it as scikit-learn's.
    """


_NOT_FITTED_CLASSES: dict[type, type] = {}


def not_fitted(message: str) -> NotFittedError:
    """A NotFittedError that is also scikit-learn's NotFittedError when scikit-learn is loaded.

    olsnet does not import scikit-learn; if the user's program already did, the raised error
    is an instance of both classes, so ``except sklearn.exceptions.NotFittedError`` works too.
    """
    import sys

    sk = sys.modules.get("sklearn.exceptions")
    sk_cls = getattr(sk, "NotFittedError", None) if sk is not None else None
    if sk_cls is None:
        return NotFittedError(message)
    cls = _NOT_FITTED_CLASSES.get(sk_cls)
    if cls is None:
        cls = type("NotFittedError", (NotFittedError, sk_cls), {"__module__": __name__})
        _NOT_FITTED_CLASSES[sk_cls] = cls
    return cls(message)


class OlsnetWarning(UserWarning):
    """Base class of every warning issued by olsnet."""


class AliasedColumnWarning(OlsnetWarning):
    """A column is a linear combination of earlier ones; its coefficient is reported as NaN."""


class NotAvailableWarning(OlsnetWarning):
    """A statistic cannot be computed for this fit; the warning says why."""


class TrainingWarning(OlsnetWarning):
    """Training stopped before its criterion was met, or ran in a mode the user did not ask for."""


class PrecisionWarning(OlsnetWarning):
    """Inputs narrower than float64 (float16, bfloat16) were converted: the fit runs in float64,
    but the digits the inputs never had cannot be recovered."""
