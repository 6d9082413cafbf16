"""``clv serve``: the CLV service (API + dashboard), its refreshes and its API tokens.

``clv serve --demo`` serves the synthetic store; ``clv serve --workspace DIR``
serves a workspace (``DIR/clv-service.toml``, docs/service.md).
``clv serve refresh`` runs a refresh now (or asks a running server to, with
``--url``); ``clv serve token create --role viewer|analyst|admin`` makes a token.
The web stack is imported only when a command runs (``clv --help`` stays light).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from clv.cli.core import ClvGroup, ClvTyper

serve_app = ClvTyper(name="serve", cls=ClvGroup, invoke_without_command=True, no_args_is_help=False,
                     help="Serve CLV to the marketing team: REST API, dashboard, run history, scheduled refresh.")
token_app = ClvTyper(name="token", cls=ClvGroup, no_args_is_help=True, help="Create, list and revoke API tokens.")
serve_app.add_typer(token_app, name="token")

WORKSPACE_OPTION = typer.Option(Path("."), "--workspace", "-w", help="The workspace folder (with clv-service.toml).")


def register(app: typer.Typer) -> None:
    """Add ``serve`` (and its subcommands) to the ``clv`` app."""
    app.add_typer(serve_app, name="serve")


@serve_app.callback()
def serve(
    ctx: typer.Context,
    workspace: Path = WORKSPACE_OPTION,
    demo: bool = typer.Option(False, "--demo", help="Serve the synthetic demo store (written to --dir, one run done at start)."),
    directory: Path = typer.Option(Path("clv-serve-demo"), "--dir", help="With --demo: where the demo workspace goes."),
    customers: int = typer.Option(5000, "--customers", help="With --demo: number of simulated customers."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    no_schedule: bool = typer.Option(False, "--no-schedule", help="Do not run the workspace's scheduled refreshes."),
) -> None:
    """Start the service (API at /api, OpenAPI at /api/docs, dashboard at /); see docs/service.md."""
    if ctx.invoked_subcommand is not None:
        return
    with _polite("serve"):
        if demo:
            from clv.service.demo import make_demo_workspace
            from clv.service.workspace import SETTINGS_FILE

            if not (directory / SETTINGS_FILE).is_file():
                typer.echo(f"writing the demo workspace to {directory}/ ({customers:,} simulated customers)")
                make_demo_workspace(directory, customers=customers)
            workspace = directory
        _serve(workspace, host, port, demo=demo, schedule=not no_schedule)


def _serve(folder: Path, host: str, port: int, *, demo: bool, schedule: bool) -> None:
    import uvicorn

    from clv.service.server import build_service

    service = build_service(folder, schedule=schedule, echo=typer.echo)
    if service.state.store.current_run_id() is None:
        typer.echo("no run yet: running the first refresh now (progress below)")
        service.refresh_now("demo" if demo else "start")
    if demo and not service.state.store.tokens():
        from clv.service.security import create_token

        token = create_token(service.state.store, "admin", "demo")
        typer.echo(f"demo admin token (shown once; keep it): {token}")
    elif not service.state.store.tokens():
        typer.echo("no API token yet: create one with 'clv serve token create --role admin'")
    typer.echo(f"serving on http://{host}:{port}/  (API docs: /api/docs; Ctrl-C stops)")
    try:
        uvicorn.run(service.app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        service.close()


@serve_app.command("refresh")
def refresh_command(
    workspace: Path = WORKSPACE_OPTION,
    url: str = typer.Option(None, "--url", help="Ask the server at this URL to refresh instead (needs --token, admin)."),
    token: str = typer.Option(None, "--token", envvar="CLV_TOKEN", help="With --url: an admin token (or CLV_TOKEN)."),
) -> None:
    """Refresh now: load, fit, score, segment and store a new run (it becomes current only when complete)."""
    if url is not None:
        _remote_refresh(url, token)
        return
    from clv.service.server import open_workspace_store
    from clv.service.runs import refresh

    ws, store = open_workspace_store(workspace)
    try:
        run_id = refresh(ws, store, trigger="cli", on_run=lambda rid: typer.echo(f"run {rid} started"))
    finally:
        store.close()
    typer.echo(f"run {run_id} done and current")


def _remote_refresh(url: str, token: str | None) -> None:
    import httpx

    from clv.errors import DataError

    if not token:
        raise DataError("--url needs --token (an admin token; or set CLV_TOKEN).")
    headers = {"Authorization": f"Bearer {token}"}
    answer = httpx.post(url.rstrip("/") + "/api/refresh", headers=headers, timeout=60)
    if answer.status_code != 202:
        raise DataError(f"the server at {url} refused the refresh ({answer.status_code}: "
                        f"{answer.json().get('detail', '') if answer.headers.get('content-type', '').startswith('application/json') else ''}).")
    typer.echo(f"run {answer.json()['run_id']} started on {url}; follow it at {url.rstrip('/')}/api/refresh")


@token_app.command("create")
def token_create(
    role: str = typer.Option(..., "--role", help="viewer, analyst (exports with emails) or admin (refreshes)."),
    name: str = typer.Option("", "--name", help="A label: who or what uses the token."),
    workspace: Path = WORKSPACE_OPTION,
) -> None:
    """Create an API token (printed once; stored hashed)."""
    from clv.service.security import create_token
    from clv.service.server import open_workspace_store

    _, store = open_workspace_store(workspace)
    try:
        token = create_token(store, role, name)
    finally:
        store.close()
    typer.echo(token)


@token_app.command("list")
def token_list(workspace: Path = WORKSPACE_OPTION) -> None:
    """List the tokens (ids, names, roles, dates; never the secrets)."""
    from clv.service.server import open_workspace_store

    _, store = open_workspace_store(workspace)
    try:
        for row in store.tokens():
            state = "revoked " + row["revoked_at"] if row["revoked_at"] else "active"
            typer.echo(f"{row['token_id']}  {row['role']:8}  {state:28}  created {row['created_at']}  {row['name']}")
    finally:
        store.close()


@token_app.command("revoke")
def token_revoke(token_id: str = typer.Argument(..., help="The token's id (the 12 hex digits after clv_)."),
                 workspace: Path = WORKSPACE_OPTION) -> None:
    """Revoke a token (a running server stops accepting it within a minute)."""
    from clv.errors import DataError
    from clv.service.server import open_workspace_store

    _, store = open_workspace_store(workspace)
    try:
        if not store.revoke_token(token_id):
            raise DataError(f"no active token with id {token_id!r}. Fix: see 'clv serve token list'.")
    finally:
        store.close()
    typer.echo(f"revoked {token_id}")


class _polite:
    """Failures of ``clv serve`` itself (a group callback, not a command): one line, exit 2 or 1."""

    def __init__(self, command: str):
        self.command = command

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, (typer.Exit, KeyboardInterrupt, SystemExit)):
            return False
        from clv.cli.failures import report_failure

        code = report_failure(exc, self.command)
        sys.exit(code)

