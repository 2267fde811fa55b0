"""Values computed once per object, recognised by the object's identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class IdentityCache(Generic[T]):
    """Remembers what was computed for particular objects, such as the schema a cache hands out.

    Keyed by identity, so looking up costs nothing however large the object is; an object must
    therefore not be changed once something was computed for it. Each entry holds its object,
    which keeps the object's id from being reused. At `size` entries the cache starts afresh.
    Safe for threads under the GIL: at worst two threads compute the same value once each.
    """

    def __init__(self, size: int = 256) -> None:
        self._entries: dict[int, tuple[Any, T]] = {}
        self._size = size

    def get(self, obj: Any, compute: Callable[[Any], T]) -> T:
        """The value for `obj`, computed by `compute(obj)` the first time."""
        entry = self._entries.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        value = compute(obj)
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[id(obj)] = (obj, value)
        return value

    def known(self, obj: Any) -> tuple[bool, T | None]:
        """(True, value) if a value was computed for `obj` (and is still held), else (False, None)."""
        entry = self._entries.get(id(obj))
        if entry is not None and entry[0] is obj:
            return True, entry[1]
        return False, None
