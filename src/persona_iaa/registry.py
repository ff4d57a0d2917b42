"""One small registry for every named family (backbones, dataset formats, CLI commands, solvers).

Why: three home-made dictionaries grew their own lookup and error wording; one class gives every family
the same duplicate check, the same "unknown name, choose one of ..." line and the same listing order.
"""
from __future__ import annotations

from typing import Callable, Generic, Iterator, Optional, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Names to objects, refusing a second object under a name that is already taken."""

    def __init__(self, kind: str):
        self.kind = kind  # what the names are, for error messages ("backbone", "dataset format", ...)
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        return lambda item: self.add(name, item)

    def get(self, name: str, error: Optional[Callable[[str], Exception]] = None) -> T:
        """The item named ``name``; unknown names raise ``error(message)`` (KeyError by default)."""
        try:
            return self._items[name]
        except KeyError:
            message = f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}"
            raise (error or KeyError)(message) from None

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
