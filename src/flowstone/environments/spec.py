"""What a step's environment decorators ask for: a Python version and packages with version specs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["EnvironmentSpec", "requirement"]

_OPERATORS = ("<", ">", "=", "!", "~")


def requirement(name: str, version: str) -> str:
    """A requirement line: Metaflow's ``{"pandas": "2.2.0"}`` pins (``==``); a spec with an operator is kept; an
    empty version takes any."""
    version = version.strip()
    if not version:
        return name
    if version.startswith(_OPERATORS):
        return f"{name}{version}"
    return f"{name}=={version}"


class EnvironmentSpec(NamedTuple):
    """Packages for one step: ``kind`` is 'pypi' or 'conda' (conda packages are resolved from PyPI, under the
    same names)."""

    kind: str
    python: str | None
    packages: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, kind: str, python: str | None, packages: Mapping[str, str]) -> EnvironmentSpec:
        items = tuple(sorted((str(name).strip(), str(version or "")) for name, version in packages.items()))
        return cls(kind, str(python) if python else None, items)

    def requirements(self) -> list[str]:
        return [requirement(name, version) for name, version in self.packages]

    def describe(self) -> str:
        packages = ", ".join(self.requirements()) or "no packages"
        return f"@{self.kind}(python={self.python or 'as the runner'}; {packages})"

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "python": self.python, "packages": self.packages}, sort_keys=True)
