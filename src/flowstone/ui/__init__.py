"""``flowstone ui``: a local web UI over a datastore, with nothing else to run.

It reads the datastore through the Client API (``flowstone.client``) and never writes, except run tags. The
server side is a small WSGI app (:mod:`flowstone.ui.app`) on waitress; the front end is files in ``static/``,
served as they are (no build step; see docs/ui.md).
"""

from __future__ import annotations

__all__: list[str] = []
