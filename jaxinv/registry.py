"""A registry of named entries: the ones registered at run time, and built-in ones whose
module is imported on first use (so importing the registry imports no model or method)."""

from __future__ import annotations

import importlib


class Registry:
    """Entries (objects with a ``name``) of one ``kind`` ('method', 'generator family').
    ``builtin`` maps a name to the module whose ``attribute`` is that entry."""

    def __init__(self, kind: str, builtin: dict[str, str], attribute: str):
        self.kind = kind
        self._builtin = dict(builtin)
        self._attribute = attribute
        self._entries = {}

    def register(self, entry):
        """Makes ``entry`` available by its name (replacing one of the same name)."""
        self._entries[entry.name] = entry
        return entry

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(set(self._builtin) | set(self._entries)))

    def get(self, name: str):
        """The entry called ``name``; ``KeyError`` listing the available ones otherwise."""
        if name not in self._entries:
            if name not in self._builtin:
                raise KeyError(f"unknown {self.kind} {name!r}; available: "
                               f"{', '.join(self.names())}")
            module = importlib.import_module(self._builtin[name])
            self.register(getattr(module, self._attribute))
        return self._entries[name]
