"""Serving the UI: the WSGI app on waitress (``pip install 'flowstone[ui]'``), reading the client's datastore."""

from __future__ import annotations

import threading
import webbrowser
from collections.abc import Callable
from typing import Any

from flowstone.client import context
from flowstone.errors import FlowstoneException
from flowstone.ui.app import UiApp

__all__ = ["make_server", "serve"]

#: Server threads: requests that read the datastore run side by side (reads of remote storage wait on I/O).
THREADS = 8


def _waitress() -> Any:
    try:
        import waitress.server
    except ImportError as exc:
        raise FlowstoneException(
            f"The UI needs the 'waitress' package ({exc}). Install it with: pip install 'flowstone[ui]'."
        ) from exc
    return waitress.server


def make_server(host: str, port: int) -> Any:
    """A waitress server of the UI on ``host:port`` (port 0: any free port), bound but not serving yet.

    Every namespace is shown: the UI is for looking at every run of the datastore.
    """
    context.namespace(None)
    try:
        return _waitress().create_server(UiApp(), host=host, port=port, threads=THREADS, ident="flowstone",
                                         clear_untrusted_proxy_headers=True)  # fmt: skip
    except OSError as exc:
        raise FlowstoneException(f"Cannot serve the UI on {host}:{port} ({exc.strerror or exc}): choose another "
                                 f"address with --host and --port.") from exc  # fmt: skip


def serve(host: str, port: int, open_browser: bool = False, announce: Callable[[str], None] = print) -> None:
    """Serve until interrupted; ``announce`` is told the address once the server listens."""
    server = make_server(host, port)
    bound_host, bound_port = server.effective_host, server.effective_port
    url = f"http://{'[' + bound_host + ']' if ':' in str(bound_host) else bound_host}:{bound_port}/"
    announce(f"flowstone UI on {url} (datastore {context.get_metadata()}); Ctrl-C stops it.")
    if open_browser:
        threading.Timer(0.2, webbrowser.open, (url,)).start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
