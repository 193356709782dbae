"""Methods a base class owns: the API and console bases use this so no subclass (or a mixin
listed before the base) can replace the tenant resolution and access check they perform."""

from __future__ import annotations

from collections.abc import Iterable


def refuse_overrides(cls: type, *, base: type, names: Iterable[str], owner: str) -> None:
    """Raise TypeError if any class between ``cls`` and ``base`` in the MRO defines one of ``names``."""
    final = tuple(names)
    for klass in cls.__mro__:
        if klass is base:
            return
        for name in final:
            if name in klass.__dict__:
                raise TypeError(f"{cls.__name__} may not override {name}() (in {klass.__name__}): {owner} owns it")
