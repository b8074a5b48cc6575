"""Package attributes imported from their modules on first use (light package imports)."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_attributes(namespace: dict, modules: dict[str, str]
                    ) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` of a package whose names load lazily.

    Parameters
    ----------
    namespace : dict
        The package's ``globals()``: a name read once is cached there.
    modules : dict of str -> str
        Public name -> the module that defines it, imported the first time the name is read.

    Examples
    --------
    >>> namespace = {"__name__": "pkg"}
    >>> names, getattr_, dir_ = lazy_attributes(namespace, {"sqrt": "math"})
    >>> names, getattr_("sqrt")(4.0), "sqrt" in namespace
    (['sqrt'], 2.0, True)
    """

    def __getattr__(name: str):
        if name in modules:
            value = getattr(importlib.import_module(modules[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(modules))

    return sorted(modules), __getattr__, __dir__
