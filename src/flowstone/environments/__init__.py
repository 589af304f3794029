"""Per-step Python environments built with uv: what ``@pypi`` and ``@conda`` ask for, resolved from the package
registry, installed once into a folder named by the resolved set, and reused by every later run."""
