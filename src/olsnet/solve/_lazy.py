"""Fields of frozen dataclasses computed on first read: what a small fit does not pay for.

A result carries values most callers never read: the (k, k) covariance of 10,001 coefficients
(800 MB for a 300 x 10,000 fit whose caller reads ``coef_``), the SVD behind
``condition_number``. Such a field is declared ``name: T = LazyField()``; the constructor (and
``dataclasses.replace``) takes either the value or a :class:`Deferred` whose ``compute(obj)``
makes it from the other fields on first read, once. Reading it is plain attribute access, so
the public API (the attribute, its value and type) is unchanged.

Two threads reading a deferred field at once may both compute it: the values are equal and the
last store wins, so no lock is needed. ``Deferred.compute`` must be a module-level function (or a
``functools.partial`` of one) for the object to stay picklable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")

__all__ = ["Deferred", "LazyField", "stored"]


class Deferred:
    """A field value made on first read by ``compute(obj)`` (``obj``: the owning instance)."""

    __slots__ = ("compute",)

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        self.compute = compute

    def __reduce__(self) -> tuple[Any, ...]:
        return (Deferred, (self.compute,))


class LazyField(Generic[T]):
    """Data descriptor for a dataclass field that may hold a :class:`Deferred` (module doc).

    The field has no default (the dataclass treats it as required) unless ``default`` is given.
    """

    _NO_DEFAULT = object()

    def __init__(self, default: Any = _NO_DEFAULT) -> None:
        self.default = default
        self.key = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = "_lazy_" + name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Any: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:  # class access: the dataclass machinery asks for the default
            if self.default is LazyField._NO_DEFAULT:
                raise AttributeError(self.key)
            return self.default
        value = obj.__dict__[self.key]
        if type(value) is Deferred:
            value = value.compute(obj)
            obj.__dict__[self.key] = value
        return value

    def __set__(self, obj: Any, value: T | Deferred) -> None:
        obj.__dict__[self.key] = value  # frozen dataclasses set fields through object.__setattr__


def stored(obj: Any, name: str) -> Any:
    """The stored value of field ``name``: the value, or its :class:`Deferred` if not yet read."""
    return obj.__dict__["_lazy_" + name]
