"""``flowstone ui``: serve the web UI over the datastore the command line chose."""

from __future__ import annotations

import click

__all__ = ["ui_command"]


@click.command("ui", help="Serve a web UI of the datastore's flows and runs (read-only, except tags).")
@click.option("--port", type=int, default=8321, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--open", "open_browser", is_flag=True, help="Open the UI in the default web browser.")
def ui_command(port: int, host: str, open_browser: bool) -> None:
    from flowstone.ui.server import serve  # the web server is imported only for this command

    serve(host, port, open_browser, announce=lambda line: click.echo(line, err=True))
