"""Assembling the service: the workspace, its run store, the refresher (with its schedule) and the app."""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clv.errors import DataError
from clv.service.app import ServiceState, create_app
from clv.service.runs import refresh
from clv.service.schedule import Refresher
from clv.service.store import STALE_AFTER, RunStore, open_store
from clv.service.workspace import Workspace, read_workspace

__all__ = ["Service", "build_service", "open_workspace_store"]


def open_workspace_store(folder: str | Path) -> tuple[Workspace, RunStore]:
    """The workspace at ``folder`` and its run database (migrated; stale running runs marked interrupted)."""
    workspace = read_workspace(folder)
    try:
        store = open_store(workspace.store_url())
    except Exception as exc:
        if "lock" in str(exc).lower():
            raise DataError(f"the run database {workspace.service.store!r} is in use by another process (a running "
                            "'clv serve'?): a DuckDB file has one writer. Fix: ask the server with "
                            "'clv serve refresh --url http://HOST:PORT --token ...', or stop it first.") from None
        raise
    # A DuckDB file has one writer, this process: a run still marked running was cut off.
    store.recover(stale_after=dt.timedelta(0) if store.dialect == "duckdb" else STALE_AFTER)
    return workspace, store


@dataclass
class Service:
    """The parts of a running service."""

    app: object
    state: ServiceState
    refresher: Refresher
    echo: Callable[[str], None]

    def refresh_now(self, trigger: str) -> str:
        """Run a refresh in the foreground, echoing each stage; returns the run id."""
        self.refresher.trigger(trigger)
        store, seen = self.state.store, None
        while self.refresher.busy:
            active = store.active_run()
            if active is not None and active["stage"] != seen:
                seen = active["stage"]
                self.echo(f"  {active['progress'] * 100:3.0f}%  {seen}")
            time.sleep(0.2)
        if self.refresher.last_error is not None:
            raise DataError(f"the refresh failed: {self.state.redact(self.refresher.last_error)}")
        return store.current_run_id()

    def close(self) -> None:
        self.refresher.stop()
        self.refresher.wait(timeout=5)
        self.state.store.close()


def build_service(folder: str | Path, *, schedule: bool = True, echo: Callable[[str], None] = print,
                  dashboard: bool = True) -> Service:
    """The app for the workspace at ``folder``, with its refresher (and its cron schedule when ``schedule``)."""
    workspace, store = open_workspace_store(folder)
    state = ServiceState(workspace, store)
    refresher = Refresher(functools.partial(refresh, workspace, store),
                          workspace.service.schedule if schedule else None)
    state.refresher = refresher
    refresher.start_schedule()
    return Service(create_app(state, dashboard=dashboard), state, refresher, echo)
