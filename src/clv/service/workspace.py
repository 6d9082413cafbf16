"""The workspace of ``clv serve``: one settings file (TOML) naming the data sources, the options and the schedule.

A workspace is a folder with a ``clv-service.toml``. Its top-level keys and its
``[columns]`` / ``[load]`` sections are those of ``clv.toml`` (:mod:`clv.settings`:
column mapping, load policy, time unit, horizon, margin, discount rate, CAC), read
and checked by :class:`clv.settings.Settings`; three sections are the service's own::

    time_unit = "week"
    horizon = 52
    discount_rate = 0.10
    margin = 0.3

    [columns]
    customer_id = "CustomerID"
    timestamp = "InvoiceDate"

    [source]
    orders = "orders.csv"            # a file (CSV, Parquet, Excel) relative to the workspace ...
    # database = "shop.duckdb"       # ... or a database (DuckDB file or an Ibis URL) ...
    # table = "orders"               # ... and its table
    customers = "customers.csv"      # optional: customer_id, email (for the exports)
    spend = "spend.csv"              # optional: acquisition spend per channel and month
    observation_end = "2025-12-31"   # optional: default the last order's day

    [cac_per_channel]                # optional: acquisition cost per customer by channel
    email = 15.0
    paid_search = 40.0

    [service]
    store = "runs.duckdb"            # the run database: a DuckDB file, or a SQLAlchemy URL
    schedule = "0 6 * * 1"           # cron (minute hour day month weekday): Mondays 06:00 UTC
    backtest = true                  # a backtest scorecard with every run
    report = true                    # the HTML report with every run
    cors_origins = []                # browsers' origins allowed to call the API (none by default)
    rate_limit = "600/minute"        # per client address

Every key is checked when the file is read; an unknown one is refused with the
closest known name (:func:`clv.settings.unknown_key`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clv.errors import DataError
from clv.settings import OPTION_KEYS, SECTIONS, Settings, unknown_key

__all__ = ["SETTINGS_FILE", "ServiceOptions", "Source", "Workspace", "read_workspace"]

SETTINGS_FILE = "clv-service.toml"
"""The workspace's settings file, in the workspace folder."""

SOURCE_KEYS = ("orders", "database", "table", "customers", "spend", "observation_end")
SERVICE_KEYS = ("store", "schedule", "backtest", "report", "cors_origins", "rate_limit", "title")
OWN_SECTIONS = ("source", "cac_per_channel", "service")


@dataclass(frozen=True)
class Source:
    """Where the orders (and optional customers and spend files) come from; paths relative to the workspace."""

    orders: str | None = None
    database: str | None = None
    table: str | None = None
    customers: str | None = None
    spend: str | None = None
    observation_end: str | None = None


@dataclass(frozen=True)
class ServiceOptions:
    """The ``[service]`` section: run database, schedule, backtest, CORS, rate limit, title."""

    store: str = "runs.duckdb"
    schedule: str | None = None
    backtest: bool = True
    report: bool = True
    cors_origins: tuple[str, ...] = ()
    rate_limit: str = "600/minute"
    title: str = "Customer lifetime value"


@dataclass(frozen=True)
class Workspace:
    """A checked workspace: its folder, the clv settings, the sources, CAC per channel and the service options."""

    root: Path
    settings: Settings
    source: Source
    cac_per_channel: dict[str, float] = field(default_factory=dict)
    service: ServiceOptions = field(default_factory=ServiceOptions)

    @property
    def time_unit(self) -> str:
        return self.settings.time_unit or "week"

    @property
    def horizon(self) -> float:
        return 52.0 if self.settings.horizon is None else float(self.settings.horizon)

    @property
    def discount_rate(self) -> float:
        return 0.10 if self.settings.discount_rate is None else float(self.settings.discount_rate)

    def path(self, name: str) -> Path:
        """A file of the workspace: ``name`` as given when absolute, else relative to the workspace folder."""
        candidate = Path(name)
        return candidate if candidate.is_absolute() else self.root / candidate

    def store_url(self) -> str:
        """The run database as a SQLAlchemy URL (a bare file name is a DuckDB file in the workspace)."""
        store = self.service.store
        if "://" in store:
            return store
        return f"duckdb:///{self.path(store)}"


def read_workspace(folder: str | Path) -> Workspace:
    """Read and check ``folder/clv-service.toml``.

    Parameters
    ----------
    folder : str or Path
        The workspace folder (or the settings file itself).

    Returns
    -------
    Workspace

    Raises
    ------
    clv.errors.DataError
        When the file is missing, not TOML, or a key or value is wrong (the message names the
        file, the key and the fix).
    """
    path = Path(folder)
    if path.is_dir():
        path = path / SETTINGS_FILE
    if not path.is_file():
        raise DataError(f"workspace settings {str(path)!r} not found. Fix: create it (docs/service.md, 'Settings') "
                        "or start with 'clv serve --demo'.")
    return workspace_from_toml(path.read_text(encoding="utf-8"), path)


def workspace_from_toml(text: str, path: Path) -> Workspace:
    """A :class:`Workspace` from the text of its settings file (``path``: the file, for messages and the folder)."""
    where = str(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"workspace settings {where!r} is not valid TOML: {exc}. Fix: correct that line.") from None
    known = (*OPTION_KEYS, *SECTIONS, *OWN_SECTIONS)
    for key in document:
        if key not in known:
            raise unknown_key(where, key, known)
    own = {name: document.pop(name, {}) for name in OWN_SECTIONS}
    for name, section in own.items():
        if not isinstance(section, dict):
            raise DataError(f"{where}: '{name}' must be a section ('[{name}]' and its keys under it).")
    settings = Settings(path=where, **document)
    source = Source(**_checked(where, "source", own["source"], SOURCE_KEYS, str))
    if source.orders is None and source.database is None:
        raise DataError(f"{where}: [source] needs 'orders' (a file) or 'database' with 'table'. "
                        "Fix: e.g. orders = \"orders.csv\".")
    if source.database is not None and source.table is None:
        raise DataError(f"{where}: [source] database = {source.database!r} needs 'table', the orders table's name.")
    return Workspace(path.parent.resolve(), settings, source, _cac(where, own["cac_per_channel"]),
                     _service(where, own["service"]))


def _checked(where: str, section: str, values: dict[str, Any], keys: tuple[str, ...], kind: type) -> dict[str, Any]:
    for key, value in values.items():
        if key not in keys:
            raise unknown_key(where, key, keys, f" in [{section}]")
        if kind is str and not isinstance(value, str):
            raise DataError(f"{where}: [{section}] {key} = {value!r} must be text in quotes, e.g. {key} = \"...\".")
    return values


def _cac(where: str, values: dict[str, Any]) -> dict[str, float]:
    out = {}
    for channel, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise DataError(f"{where}: [cac_per_channel] {channel} = {value!r} must be a cost per customer "
                            "(a number >= 0), e.g. email = 15.0.")
        out[str(channel)] = float(value)
    return out


def _service(where: str, values: dict[str, Any]) -> ServiceOptions:
    for key in values:
        if key not in SERVICE_KEYS:
            raise unknown_key(where, key, SERVICE_KEYS, " in [service]")
    options = dict(values)
    if "schedule" in options:
        from clv.service.schedule import check_cron

        options["schedule"] = check_cron(options["schedule"], f"{where}: [service] schedule")
    for key in ("backtest", "report"):
        if key in options and not isinstance(options[key], bool):
            raise DataError(f"{where}: [service] {key} = {options[key]!r} must be true or false.")
    if "cors_origins" in options:
        origins = options["cors_origins"]
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            raise DataError(f"{where}: [service] cors_origins must be a list of origins, "
                            "e.g. [\"https://crm.example.com\"].")
        options["cors_origins"] = tuple(origins)
    if "rate_limit" in options:
        from limits import parse

        try:
            parse(str(options["rate_limit"]))
        except ValueError:
            raise DataError(f"{where}: [service] rate_limit = {options['rate_limit']!r} is not a rate. "
                            "Fix: e.g. \"600/minute\".") from None
    for key in ("store", "title"):
        if key in options and not isinstance(options[key], str):
            raise DataError(f"{where}: [service] {key} = {options[key]!r} must be text in quotes.")
    return ServiceOptions(**options)
