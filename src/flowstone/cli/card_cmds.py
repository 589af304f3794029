"""``card get|view|list|server``: the cards of past and running tasks, for a flow file's command line
(``python flow.py card get start``) and for the ``flowstone`` command (``flowstone card get Flow/run/step``).

PATHSPEC is ``STEP`` (in the latest run), ``RUN_ID/STEP`` or ``RUN_ID/STEP/TASK_ID``; for ``flowstone card`` it
starts with the flow's name. Messages go to stderr; a card's HTML (``card get``) to stdout.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from flowstone.cli.inspect_cmds import use_datastore
from flowstone.errors import FlowstoneException

if TYPE_CHECKING:
    from flowstone.cards import Card
    from flowstone.client.tasks import Task

__all__ = ["card_group"]


def _flow_and_parts(ctx: click.Context, pathspec: str) -> tuple[str, list[str]]:
    parts = [p for p in pathspec.strip("/").split("/") if p]
    flow_name = getattr(ctx.obj, "flow_name", None)
    if flow_name is None:
        if len(parts) < 2:
            raise FlowstoneException(f"'{pathspec}' names no step: use FLOW/STEP, FLOW/RUN_ID/STEP or "
                                     "FLOW/RUN_ID/STEP/TASK_ID.")  # fmt: skip
        flow_name, parts = parts[0], parts[1:]
    if not 1 <= len(parts) <= 3:
        raise FlowstoneException(f"'{pathspec}' names no step or task: use STEP, RUN_ID/STEP or RUN_ID/STEP/TASK_ID.")
    return flow_name, parts


def resolve_task(ctx: click.Context, pathspec: str) -> Task:
    """The task PATHSPEC names (a step's task: the only one, or the newest of a foreach's)."""
    from flowstone.client import Flow, Step, Task

    flow_name, parts = _flow_and_parts(ctx, pathspec)
    if len(parts) == 3:
        return Task("/".join([flow_name, *parts]))
    if len(parts) == 1:
        run = Flow(flow_name).latest_run
        if run is None or parts[0] not in run:
            raise FlowstoneException(f"Step '{parts[0]}' is not in the latest run of {flow_name}.")
        task = run[parts[0]].task
    else:
        task = Step("/".join([flow_name, *parts])).task
    if task is None:
        raise FlowstoneException(f"Step '{pathspec}' has no task yet.")
    return task


def _matching(ctx: click.Context, pathspec: str, card_hash: str | None, card_type: str | None, card_id: str | None,
              follow_resumed: bool) -> tuple[Task, list[Card]]:  # fmt: skip
    from flowstone.cards import CardNotPresentException, get_cards

    task = resolve_task(ctx, pathspec)
    cards = get_cards(task, id=card_id, type=card_type, follow_resumed=follow_resumed)
    if follow_resumed and cards.origin_pathspec:
        click.echo(f"Resolving card resumed from: {cards.origin_pathspec}", err=True)
    else:
        click.echo(f"Resolving card: {task.pathspec}", err=True)
    found = [c for c in cards if card_hash is None or c.hash.startswith(card_hash)]
    if not found:
        raise CardNotPresentException(task.pathspec, card_type, card_id, card_hash)
    return task, found


def _describe(task: Task, cards: list[Card], command: str | None) -> None:
    click.echo(f"Found {len(cards)} card{'s' if len(cards) != 1 else ''} matching your query:", err=True)
    for card in cards:
        click.echo(f"\n    Card Id: {card.id}\n    Card Type: {card.type}\n    Card Hash: {card.hash}\n"
                   f"    Card Path: {card.path}", err=True)  # fmt: skip
    if command is not None:
        taskspec = "/".join(task.path_components[1:])
        click.echo(f"\nChoose one with --hash, e.g.: card {command} {taskspec} --hash {cards[0].hash[:5]}", err=True)


def _read_options(command: Any) -> Any:
    options = [
        click.option("--hash", "card_hash", default=None, help="The card's hash (its first characters will do)."),
        click.option("--type", "card_type", default=None, help="Only cards of this type."),
        click.option("--id", "card_id", default=None, help="Only the card with this id."),
        click.option("--follow-resumed/--no-follow-resumed", default=True, show_default=True,
                     help="Say which task a resumed or cached task has its cards from."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


@click.group("card", help="The cards of tasks (made by @card): get, view, list, serve.")
def card_group() -> None:
    pass


@card_group.command("get", help="Print a card's HTML, or save it to PATH. PATHSPEC: STEP, RUN/STEP or RUN/STEP/TASK.")
@click.argument("pathspec")
@click.argument("path", required=False)
@_read_options
@click.pass_context
def get_command(ctx: click.Context, pathspec: str, path: str | None, card_hash: str | None, card_type: str | None,
                card_id: str | None, follow_resumed: bool) -> None:  # fmt: skip
    use_datastore(ctx)
    task, cards = _matching(ctx, pathspec, card_hash, card_type, card_id, follow_resumed)
    if len(cards) > 1:
        _describe(task, cards, "get")
        return
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(cards[0].get())
        click.echo(f"Card saved to {path}", err=True)
        return
    click.echo(cards[0].get())


@card_group.command("view", help="Open a card in a web browser. PATHSPEC: STEP, RUN/STEP or RUN/STEP/TASK.")
@click.argument("pathspec")
@_read_options
@click.pass_context
def view_command(ctx: click.Context, pathspec: str, card_hash: str | None, card_type: str | None,
                 card_id: str | None, follow_resumed: bool) -> None:  # fmt: skip
    use_datastore(ctx)
    task, cards = _matching(ctx, pathspec, card_hash, card_type, card_id, follow_resumed)
    if len(cards) > 1:
        _describe(task, cards, "view")
        return
    cards[0].view()


def _card_json(card: Card) -> dict[str, Any]:
    return {"id": card.id, "hash": card.hash, "type": card.type, "filename": card.path}


@card_group.command("list", help="List the cards of a task, or of every task of the latest run (no PATHSPEC).")
@click.argument("pathspec", required=False)
@_read_options
@click.option("--as-json", is_flag=True, default=False, help="Print the list as JSON.")
@click.option("--file", "out_file", default=None, help="Write the JSON list to this file.")
@click.pass_context
def list_command(ctx: click.Context, pathspec: str | None, card_hash: str | None, card_type: str | None,
                 card_id: str | None, follow_resumed: bool, as_json: bool, out_file: str | None) -> None:  # fmt: skip
    use_datastore(ctx)
    in_flow_file = getattr(ctx.obj, "flow_name", None) is not None
    if pathspec is not None and (in_flow_file or "/" in pathspec.strip("/")):  # a task, not a whole flow
        task, cards = _matching(ctx, pathspec, card_hash, card_type, card_id, follow_resumed)
        listing: Any = {"pathspec": task.pathspec, "cards": [_card_json(c) for c in cards]}
        if not (as_json or out_file):
            _describe(task, cards, None)
            return
    else:
        listing = _run_listing(ctx, pathspec, card_hash, card_type, card_id, as_json or bool(out_file))
        if listing is None:
            return
    text = json.dumps(listing, indent=4)
    if out_file:
        with open(out_file, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        click.echo(text)


def _run_listing(ctx: click.Context, flow: str | None, card_hash: str | None, card_type: str | None,
                 card_id: str | None, as_json: bool) -> list[dict[str, Any]] | None:  # fmt: skip
    from flowstone.cards import CardNotPresentException, get_cards
    from flowstone.client import Flow

    flow_name = getattr(ctx.obj, "flow_name", None) or flow
    if not flow_name:
        raise FlowstoneException("Name the flow: 'flowstone card list FLOW' lists the cards of its latest run.")
    run = Flow(flow_name).latest_run
    if run is None:
        raise FlowstoneException(f"{flow_name} has no runs.")
    if not as_json:
        click.echo(f"Listing cards for run {run.pathspec}", err=True)
    listing = []
    for step in reversed(list(run)):
        for task in reversed(list(step)):
            cards = [c for c in get_cards(task, id=card_id, type=card_type)
                     if card_hash is None or c.hash.startswith(card_hash)]  # fmt: skip
            if cards:
                listing.append({"pathspec": task.pathspec, "cards": [_card_json(c) for c in cards]})
                if not as_json:
                    click.echo(f"Step: {step.id}", err=True)
                    _describe(task, cards, None)
    if not listing:
        raise CardNotPresentException(run.pathspec, card_type, card_id, card_hash)
    return listing if as_json else None


@card_group.command("server", help="Serve the cards of the latest run (or --run-id) on a local web page, kept up "
                    "to date while tasks run. For 'flowstone card server', name the FLOW.")  # fmt: skip
@click.argument("flow", required=False)
@click.option("--run-id", default=None, help="This run instead of the latest one (which is followed as runs start).")
@click.option("--port", type=int, default=8324, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--namespace", "user_namespace", default=None, help="Look for the latest run in this namespace.")
@click.option("--poll-interval", type=float, default=5, show_default=True, help="Seconds between the page's updates.")
@click.option("--max-cards", type=int, default=30, show_default=True, help="Show at most this many cards.")
@click.pass_context
def server_command(ctx: click.Context, flow: str | None, run_id: str | None, port: int, host: str,
                   user_namespace: str | None, poll_interval: float, max_cards: int) -> None:  # fmt: skip
    from flowstone.cli.card_server import CardViewer, make_server
    from flowstone.client import context

    use_datastore(ctx)
    flow_name = getattr(ctx.obj, "flow_name", None) or flow
    if not flow_name:
        raise FlowstoneException("Name the flow whose cards to serve: 'flowstone card server FLOW'.")
    if run_id is None:
        context.namespace(user_namespace) if user_namespace else context.default_namespace()
    server = make_server(CardViewer(flow_name, run_id, poll_interval, max_cards), host, port)
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    click.echo(f"Card server for {flow_name} listening on http://{bound_host}:{bound_port}/ (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
