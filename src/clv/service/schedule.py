"""Scheduled and manual refreshes: one refresh at a time, in a background thread, on a cron schedule.

The schedule is a five-field cron string (minute hour day-of-month month
day-of-week, UTC), parsed by APScheduler's :meth:`CronTrigger.from_crontab`.
:class:`Refresher` runs :func:`clv.service.runs.refresh` in a worker thread;
a second trigger while one runs is refused (409 on the API), and its progress
is the running run's row in the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from clv.errors import DataError

__all__ = ["Refresher", "check_cron", "next_times"]

log = logging.getLogger("clv.service")


def check_cron(expression: object, where: str = "schedule") -> str:
    """``expression`` if it is a valid five-field cron string, else a DataError naming ``where`` and the fix."""
    from apscheduler.triggers.cron import CronTrigger

    if not isinstance(expression, str):
        raise DataError(f"{where} = {expression!r} must be a cron string in quotes, e.g. \"0 6 * * 1\" (Mondays 06:00).")
    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        raise DataError(f"{where} = {expression!r} is not a cron schedule ({exc}). Fix: five fields, minute hour "
                        "day-of-month month day-of-week, e.g. \"0 6 * * 1\" (Mondays 06:00 UTC).") from None
    return expression


def next_times(expression: str, count: int = 3) -> list[str]:
    """The next ``count`` times (ISO, UTC) the cron ``expression`` fires."""
    import datetime as dt

    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(expression, timezone="UTC")
    times, previous = [], None
    current = dt.datetime.now(dt.UTC)
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, current)
        if fire is None:
            break
        times.append(fire.isoformat())
        previous, current = fire, fire + dt.timedelta(seconds=1)
    return times


class Refresher:
    """Runs refreshes one at a time in a background thread, by hand or on the workspace's cron schedule.

    Parameters
    ----------
    run : callable
        ``run(trigger, on_run)``: one refresh (:func:`clv.service.runs.refresh` bound to a workspace
        and store); ``on_run(run_id)`` is called once the run is registered.
    schedule : str or None
        A cron string; None: manual refreshes only.
    """

    def __init__(self, run: Callable[..., str], schedule: str | None = None):
        self._run = run
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.current_run_id: str | None = None
        self.schedule = schedule
        self._scheduler = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def trigger(self, trigger: str = "manual") -> str | None:
        """Start a refresh in the background; returns its run id, or None when one is already running."""
        with self._lock:
            if self.busy:
                return None
            started = threading.Event()
            self.current_run_id = None

            def on_run(run_id: str) -> None:
                self.current_run_id = run_id
                started.set()

            self._thread = threading.Thread(target=self._work, args=(trigger, on_run, started),
                                            name="clv-refresh", daemon=True)
            self._thread.start()
        started.wait(timeout=30)
        return self.current_run_id

    def _work(self, trigger: str, on_run, started: threading.Event) -> None:
        try:
            self._run(trigger=trigger, on_run=on_run)
            self.last_error = None
        except Exception as exc:  # recorded on the run; logged here without the data
            self.last_error = str(exc)
            log.warning("refresh failed: %s", type(exc).__name__ if not str(exc) else str(exc)[:300])
        finally:
            started.set()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the running refresh (if any) to end."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def start_schedule(self) -> None:
        """Start the cron schedule (no-op without one)."""
        if self.schedule is None:
            return
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger

        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._scheduler.add_job(lambda: self.trigger("schedule"), CronTrigger.from_crontab(self.schedule, timezone="UTC"),
                                id="refresh", max_instances=1, coalesce=True)
        self._scheduler.start()

    def next_run_time(self) -> str | None:
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job("refresh")
        return None if job is None or job.next_run_time is None else job.next_run_time.isoformat()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
