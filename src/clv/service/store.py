"""The run database: every refresh's results and history, in DuckDB by default or PostgreSQL through a URL.

One thin SQL layer (SQLAlchemy Core) over the engines: the schema is declared
once below and created by numbered migrations recorded in ``schema_migrations``
(:data:`MIGRATIONS`; a database written by a newer ``clv`` is refused). Bulk
writes of the per-customer table go through DuckDB's own DataFrame scan on
DuckDB and through batched inserts elsewhere.

The life of a run (:class:`RunStore`):

1. :meth:`RunStore.begin_run` inserts the run's row with status ``running`` (its
   own short transaction, so that its progress is visible).
2. :meth:`RunStore.set_progress` updates its stage and heartbeat while it computes.
3. :meth:`RunStore.commit_run` writes everything the run computed *and* makes it
   the current run in ONE transaction. A crash or kill before the commit leaves
   no row of it but the ``running`` one, and the previous run keeps serving;
   :meth:`RunStore.recover` marks such a row ``interrupted``.
4. A run that raises is marked ``failed`` with its one-line reason
   (:meth:`RunStore.fail_run`); the current run does not change.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from clv.errors import ClvError

__all__ = ["CUSTOMER_COLUMNS", "MIGRATIONS", "SEGMENT_KINDS", "RunStore", "StoreError", "open_store"]

SEGMENT_KINDS = ("action", "rfm_segment", "value_tier", "risk_tier")
"""The labels a customer carries in a run; segment sizes are stored per kind."""

STALE_AFTER = dt.timedelta(minutes=15)
"""A ``running`` run whose heartbeat is older than this is taken as interrupted (its process is gone)."""

metadata = sa.MetaData()

migrations_table = sa.Table(
    "schema_migrations", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
)

runs_table = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),  # running, succeeded, failed, interrupted
    sa.Column("stage", sa.String(200), nullable=False),
    sa.Column("progress", sa.Double, nullable=False),
    sa.Column("trigger", sa.String(40), nullable=False),  # manual, schedule, demo, cli
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("heartbeat_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("error", sa.Text),
    sa.Column("n_customers", sa.BigInteger),
    sa.Column("settings", sa.Text),
    sa.Column("load_report", sa.Text),
    sa.Column("models", sa.Text),
    sa.Column("scorecard", sa.Text),
    sa.Column("kpis", sa.Text),
    sa.Column("drivers", sa.Text),
    sa.Column("playbook", sa.Text),
    sa.Column("notes", sa.Text),
)

state_table = sa.Table(
    "service_state", metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)

CUSTOMER_COLUMNS: dict[str, Any] = {
    "email": sa.String(320),
    "frequency": sa.Double,
    "recency": sa.Double,
    "age": sa.Double,
    "monetary_value": sa.Double,
    "n_orders": sa.BigInteger,
    "revenue": sa.Double,
    "p_alive": sa.Double,
    "expected_purchases": sa.Double,
    "expected_spend": sa.Double,
    "clv": sa.Double,
    "clv_low": sa.Double,
    "clv_high": sa.Double,
    "expected_orders_90d": sa.Double,
    "rfm_segment": sa.String(40),
    "value_tier": sa.String(40),
    "risk_tier": sa.String(40),
    "action": sa.String(40),
    "early_warning": sa.Boolean,
    "next_products": sa.Text,
}
"""The per-customer columns of a run (besides ``run_id`` and ``customer_id``)."""

HISTORY_FIELDS = ("run_id", "finished_at", "p_alive", "expected_purchases", "clv", "value_tier", "risk_tier", "action",
                  "rfm_segment")
"""The fields of one customer's history across runs."""

customers_table = sa.Table(
    "customer_scores", metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.String(200), primary_key=True),
    *(sa.Column(name, kind) for name, kind in CUSTOMER_COLUMNS.items()),
)

segments_table = sa.Table(
    "segment_sizes", metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("segment", sa.String(40), primary_key=True),
    sa.Column("customers", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Double),
)

reports_table = sa.Table(
    "run_reports", metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("html", sa.Text, nullable=False),
)

tokens_table = sa.Table(
    "api_tokens", metadata,
    sa.Column("token_id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("digest", sa.String(256), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
)

MIGRATIONS: tuple[tuple[int, str, Callable[[sa.Connection], None]], ...] = (
    (1, "runs, current run, customer scores, segment sizes, reports, API tokens",
     lambda conn: metadata.create_all(conn, tables=[runs_table, state_table, customers_table, segments_table,
                                                    reports_table, tokens_table])),
)
"""Schema migrations in order: (version, description, apply). Append; never edit a published one."""


class StoreError(ClvError):
    """The run database cannot be used as it is (e.g. written by a newer clv)."""


def now() -> dt.datetime:
    """The current UTC time without time zone (the database columns are naive UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_run_id() -> str:
    """A sortable, unique run id: UTC time to the second plus 6 random hex digits (``20251231T060000-1a2b3c``)."""
    return f"{now():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class RunData:
    """What a finished run writes: its summary records (JSON-able), the per-customer frame and the report."""

    n_customers: int
    settings: dict
    load_report: dict
    models: dict
    scorecard: dict | None
    kpis: dict
    drivers: list
    playbook: list
    notes: list
    customers: Any  # pandas.DataFrame: customer_id + CUSTOMER_COLUMNS
    segment_sizes: Any  # pandas.DataFrame: kind, segment, customers, value
    report_html: str | None


def open_store(url: str) -> RunStore:
    """Open (and migrate) the run database at a SQLAlchemy ``url`` (``duckdb:///runs.duckdb``, ``postgresql+psycopg://...``)."""
    return RunStore(url)


class RunStore:
    """The run database: migrations, the run life cycle, and the history queries the API serves.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL: ``duckdb:///path/runs.duckdb`` (default engine), ``postgresql+psycopg://user@host/db``,
        or ``sqlite:///path`` (tests of the portable path).
    """

    def __init__(self, url: str):
        self.url = url
        self.engine = sa.create_engine(url, **_engine_options(url))
        self.dialect = self.engine.dialect.name
        self.migrate()

    def close(self) -> None:
        self.engine.dispose()

    # --- schema -----------------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the migrations this database lacks, each in its own transaction; returns the versions applied."""
        with self.engine.begin() as conn:
            metadata.create_all(conn, tables=[migrations_table])
            applied = set(conn.execute(sa.select(migrations_table.c.version)).scalars())
        known = {version for version, _, _ in MIGRATIONS}
        if applied - known:
            raise StoreError(f"the run database {self.safe_url()} has schema version {max(applied)}, newer than this "
                             f"clv knows ({max(known)}). Fix: upgrade clv, or point [service] store at another database.")
        done = []
        for version, name, apply in MIGRATIONS:
            if version in applied:
                continue
            with self.engine.begin() as conn:
                apply(conn)
                conn.execute(migrations_table.insert().values(version=version, name=name, applied_at=now()))
            done.append(version)
        return done

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(migrations_table.c.version))).scalar() or 0)

    def safe_url(self) -> str:
        """The URL with any password hidden (for messages and logs)."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    # --- the run life cycle -----------------------------------------------------------------------

    def begin_run(self, trigger: str, settings: Mapping[str, Any]) -> str:
        """Insert a ``running`` run and return its id (visible at once to progress queries)."""
        run_id = new_run_id()
        stamp = now()
        with self.engine.begin() as conn:
            conn.execute(runs_table.insert().values(
                run_id=run_id, status="running", stage="starting", progress=0.0, trigger=trigger,
                started_at=stamp, heartbeat_at=stamp, settings=_dumps(settings)))
        return run_id

    def set_progress(self, run_id: str, stage: str, progress: float) -> None:
        """Record the stage a running run is in and its progress in [0, 1] (also its heartbeat)."""
        with self.engine.begin() as conn:
            conn.execute(runs_table.update().where(runs_table.c.run_id == run_id, runs_table.c.status == "running")
                         .values(stage=stage[:200], progress=float(progress), heartbeat_at=now()))

    def commit_run(self, run_id: str, data: RunData) -> None:
        """Write everything ``run_id`` computed and make it the current run, in one transaction."""
        customers = data.customers.assign(run_id=run_id)[["run_id", "customer_id", *CUSTOMER_COLUMNS]]
        sizes = data.segment_sizes.assign(run_id=run_id)[["run_id", "kind", "segment", "customers", "value"]]
        with self.engine.begin() as conn:
            self._bulk_insert(conn, customers_table, customers)
            self._bulk_insert(conn, segments_table, sizes)
            if data.report_html is not None:
                conn.execute(reports_table.insert().values(run_id=run_id, html=data.report_html))
            conn.execute(runs_table.update().where(runs_table.c.run_id == run_id).values(
                status="succeeded", stage="done", progress=1.0, finished_at=now(), heartbeat_at=now(),
                n_customers=int(data.n_customers), settings=_dumps(data.settings), load_report=_dumps(data.load_report),
                models=_dumps(data.models), scorecard=_dumps(data.scorecard), kpis=_dumps(data.kpis),
                drivers=_dumps(data.drivers), playbook=_dumps(data.playbook), notes=_dumps(data.notes)))
            self._set_current(conn, run_id)

    def fail_run(self, run_id: str, reason: str) -> None:
        """Mark a run ``failed`` with its reason; the current run does not change."""
        with self.engine.begin() as conn:
            conn.execute(runs_table.update().where(runs_table.c.run_id == run_id).values(
                status="failed", stage="failed", finished_at=now(), heartbeat_at=now(), error=reason[:2000]))

    def recover(self, stale_after: dt.timedelta = STALE_AFTER) -> list[str]:
        """Mark ``running`` runs whose heartbeat is older than ``stale_after`` as ``interrupted``; returns their ids."""
        cutoff = now() - stale_after
        with self.engine.begin() as conn:
            stale = list(conn.execute(sa.select(runs_table.c.run_id).where(
                runs_table.c.status == "running", runs_table.c.heartbeat_at <= cutoff)).scalars())
            if stale:
                conn.execute(runs_table.update().where(runs_table.c.run_id.in_(stale)).values(
                    status="interrupted", stage="interrupted", finished_at=now(),
                    error="the process running this refresh stopped before it finished; the previous run kept serving"))
        return stale

    def _set_current(self, conn: sa.Connection, run_id: str) -> None:
        updated = conn.execute(state_table.update().where(state_table.c.key == "current_run").values(value=run_id))
        if updated.rowcount == 0:
            conn.execute(state_table.insert().values(key="current_run", value=run_id))

    def _bulk_insert(self, conn: sa.Connection, table: sa.Table, frame) -> None:
        if frame.empty:
            return
        if self.dialect == "duckdb":
            raw = conn.connection.driver_connection
            view = f"clv_bulk_{secrets.token_hex(4)}"
            raw.register(view, frame)
            names = ", ".join(f'"{c}"' for c in frame.columns)
            try:
                conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {view}")
            except Exception:
                with contextlib.suppress(Exception):  # the transaction is aborted: the view goes with the connection
                    raw.unregister(view)
                raise
            raw.unregister(view)
            return
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        for start in range(0, len(records), 5000):
            conn.execute(table.insert(), records[start:start + 5000])

    # --- reads ------------------------------------------------------------------------------------

    def current_run_id(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(state_table.c.value).where(state_table.c.key == "current_run")).scalar()

    def previous_run_id(self, run_id: str) -> str | None:
        """The succeeded run before ``run_id`` (by start time), or None."""
        with self.engine.connect() as conn:
            started = conn.execute(sa.select(runs_table.c.started_at).where(runs_table.c.run_id == run_id)).scalar()
            if started is None:
                return None
            return conn.execute(sa.select(runs_table.c.run_id).where(
                runs_table.c.status == "succeeded", runs_table.c.started_at < started)
                .order_by(runs_table.c.started_at.desc()).limit(1)).scalar()

    def run(self, run_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs_table).where(runs_table.c.run_id == run_id)).mappings().first()
        return None if row is None else _run_record(row)

    def runs(self, limit: int = 50, offset: int = 0, status: str | None = None) -> list[dict]:
        """Runs, newest first (summary fields and KPIs; no per-customer rows)."""
        query = sa.select(runs_table).order_by(runs_table.c.started_at.desc()).limit(limit).offset(offset)
        if status is not None:
            query = query.where(runs_table.c.status == status)
        with self.engine.connect() as conn:
            return [_run_record(row) for row in conn.execute(query).mappings()]

    def active_run(self) -> dict | None:
        """The run in progress (status ``running``), if any."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs_table).where(runs_table.c.status == "running")
                               .order_by(runs_table.c.started_at.desc()).limit(1)).mappings().first()
        return None if row is None else _run_record(row)

    def kpi_history(self) -> list[dict]:
        """Per succeeded run, oldest first: run id, finish time, KPIs (CLV, customer equity, ...) and the four drivers."""
        query = (sa.select(runs_table.c.run_id, runs_table.c.finished_at, runs_table.c.kpis)
                 .where(runs_table.c.status == "succeeded").order_by(runs_table.c.started_at))
        with self.engine.connect() as conn:
            return [{"run_id": r.run_id, "finished_at": _iso(r.finished_at), **(json.loads(r.kpis) if r.kpis else {})}
                    for r in conn.execute(query)]

    def customer(self, run_id: str, customer_id: str) -> dict | None:
        query = sa.select(customers_table).where(customers_table.c.run_id == run_id,
                                                 customers_table.c.customer_id == customer_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _customer_record(row)

    def customer_and_history(self, run_id: str, customer_id: str) -> tuple[dict | None, list[dict]]:
        """One customer's full row in ``run_id`` and its history over succeeded runs, in ONE query (the lookup's path)."""
        c = customers_table.c
        query = (sa.select(customers_table, runs_table.c.finished_at, runs_table.c.status)
                 .join_from(customers_table, runs_table, runs_table.c.run_id == c.run_id)
                 .where(c.customer_id == customer_id).order_by(runs_table.c.started_at))
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).mappings())
        found, history = None, []
        for row in rows:
            if row["run_id"] == run_id:
                found = _customer_record({k: v for k, v in row.items() if k not in ("finished_at", "status")})
            if row["status"] == "succeeded":
                history.append(_plain_row({k: row[k] for k in HISTORY_FIELDS}))
        return found, history

    def customer_history(self, customer_id: str) -> list[dict]:
        """One customer's scores and labels in every succeeded run that has them, oldest first."""
        c = customers_table.c
        query = (sa.select(c.run_id, runs_table.c.finished_at, c.p_alive, c.expected_purchases, c.clv, c.value_tier,
                           c.risk_tier, c.action, c.rfm_segment)
                 .join_from(customers_table, runs_table, runs_table.c.run_id == c.run_id)
                 .where(c.customer_id == customer_id, runs_table.c.status == "succeeded")
                 .order_by(runs_table.c.started_at))
        with self.engine.connect() as conn:
            return [_plain_row(row) for row in conn.execute(query).mappings()]

    def customers(self, run_id: str, *, kind: str | None = None, segment: str | None = None,
                  min_clv: float | None = None, max_clv: float | None = None, min_p_alive: float | None = None,
                  max_p_alive: float | None = None, search: str | None = None, sort: str = "clv",
                  descending: bool = True, limit: int = 50, offset: int = 0) -> tuple[int, list[dict]]:
        """A page of a run's customers filtered by segment, CLV, P(alive) or an id prefix; (total matching, rows)."""
        c = customers_table.c
        conditions = [c.run_id == run_id]
        if kind is not None and segment is not None:
            conditions.append(c[kind] == segment)
        elif segment is not None:  # any label: an action, RFM segment, value tier or risk tier of that name
            conditions.append(sa.or_(*(c[name] == segment for name in SEGMENT_KINDS)))
        for column, low, high in ((c.clv, min_clv, max_clv), (c.p_alive, min_p_alive, max_p_alive)):
            if low is not None:
                conditions.append(column >= low)
            if high is not None:
                conditions.append(column <= high)
        if search:
            pattern = _like_prefix(search)
            conditions.append(sa.or_(c.customer_id.like(pattern, escape="\\"), c.email.like(pattern, escape="\\")))
        order = c[sort].desc() if descending else c[sort].asc()
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(customers_table).where(*conditions)).scalar()
            rows = conn.execute(sa.select(customers_table).where(*conditions)
                                .order_by(order, c.customer_id).limit(limit).offset(offset)).mappings()
            return int(total), [_customer_record(row) for row in rows]

    def segment_sizes(self, run_id: str, kind: str | None = None) -> list[dict]:
        s = segments_table.c
        query = sa.select(s.kind, s.segment, s.customers, s.value).where(s.run_id == run_id)
        if kind is not None:
            query = query.where(s.kind == kind)
        with self.engine.connect() as conn:
            return [_plain_row(row) for row in conn.execute(query.order_by(s.kind, s.value.desc())).mappings()]

    def segment_history(self, kind: str) -> list[dict]:
        """Segment sizes and value of one kind of label across succeeded runs, oldest first."""
        s = segments_table.c
        query = (sa.select(s.run_id, runs_table.c.finished_at, s.segment, s.customers, s.value)
                 .join_from(segments_table, runs_table, runs_table.c.run_id == s.run_id)
                 .where(s.kind == kind, runs_table.c.status == "succeeded")
                 .order_by(runs_table.c.started_at, s.segment))
        with self.engine.connect() as conn:
            return [_plain_row(row) for row in conn.execute(query).mappings()]

    def movers(self, run_id: str, previous: str, kind: str = "risk_tier", limit: int = 100) -> dict:
        """Who changed label ``kind`` between ``previous`` and ``run_id``: counts per (from, to) and the biggest movers.

        ``newly_at_risk``: high risk now, not before; ``won_back``: high risk before, low or medium now.
        """
        now_t, before_t = customers_table.alias("now_t"), customers_table.alias("before_t")
        joined = now_t.join(before_t, sa.and_(now_t.c.customer_id == before_t.c.customer_id,
                                              before_t.c.run_id == previous))
        base = sa.and_(now_t.c.run_id == run_id, now_t.c[kind] != before_t.c[kind])
        counts = (sa.select(before_t.c[kind].label("from_segment"), now_t.c[kind].label("to_segment"),
                            sa.func.count().label("customers"), sa.func.sum(now_t.c.clv).label("clv_now"))
                  .select_from(joined).where(base).group_by(before_t.c[kind], now_t.c[kind])
                  .order_by(sa.func.count().desc()))
        out: dict[str, Any] = {"run_id": run_id, "previous_run_id": previous, "kind": kind}
        with self.engine.connect() as conn:
            out["moves"] = [_plain_row(row) for row in conn.execute(counts).mappings()]
            if kind == "risk_tier":
                for name, condition in (
                        ("newly_at_risk", sa.and_(now_t.c.risk_tier == "high risk", before_t.c.risk_tier != "high risk")),
                        ("won_back", sa.and_(before_t.c.risk_tier == "high risk", now_t.c.risk_tier != "high risk"))):
                    query = (sa.select(now_t.c.customer_id, before_t.c.risk_tier.label("before"),
                                       now_t.c.risk_tier.label("now"), before_t.c.clv.label("clv_before"),
                                       now_t.c.clv.label("clv_now"), now_t.c.action)
                             .select_from(joined).where(now_t.c.run_id == run_id, condition)
                             .order_by(before_t.c.clv.desc(), now_t.c.customer_id).limit(limit))
                    total = conn.execute(sa.select(sa.func.count()).select_from(joined)
                                         .where(now_t.c.run_id == run_id, condition)).scalar()
                    out[name] = {"customers": int(total), "top": [_plain_row(r) for r in conn.execute(query).mappings()]}
        return out

    def export_rows(self, run_id: str, kind: str, segment: str, with_email: bool) -> Iterable[dict]:
        """A segment's customers in the shape email and ads tools import, highest CLV first."""
        c = customers_table.c
        columns = [c.customer_id, *([c.email] if with_email else []), c.value_tier, c.risk_tier,
                   c.p_alive.label("churn_probability"), c.action, c.clv]
        query = (sa.select(*columns).where(c.run_id == run_id, c[kind] == segment)
                 .order_by(c.clv.desc(), c.customer_id))
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                record = _plain_row(row)
                record["churn_probability"] = None if record["churn_probability"] is None else 1.0 - record["churn_probability"]
                yield record

    def report_html(self, run_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(reports_table.c.html).where(reports_table.c.run_id == run_id)).scalar()

    # --- tokens -----------------------------------------------------------------------------------

    def add_token(self, token_id: str, name: str, role: str, salt: str, digest: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(tokens_table.insert().values(token_id=token_id, name=name, role=role, salt=salt,
                                                      digest=digest, created_at=now()))

    def token(self, token_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tokens_table).where(tokens_table.c.token_id == token_id,
                                                             tokens_table.c.revoked_at.is_(None))).mappings().first()
        return None if row is None else dict(row)

    def tokens(self) -> list[dict]:
        t = tokens_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.token_id, t.name, t.role, t.created_at, t.revoked_at)
                                .order_by(t.created_at)).mappings()
            return [_plain_row(row) for row in rows]

    def revoke_token(self, token_id: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(tokens_table.update().where(tokens_table.c.token_id == token_id,
                                                            tokens_table.c.revoked_at.is_(None)).values(revoked_at=now()))
            return done.rowcount > 0


def _engine_options(url: str) -> dict:
    name = sa.engine.make_url(url).get_backend_name()
    if name == "duckdb":
        return {"pool_size": 8, "max_overflow": 8}
    if name == "sqlite":
        return {"connect_args": {"check_same_thread": False}}
    return {"pool_pre_ping": True}


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(json_safe(value), default=_json_default, allow_nan=False)


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None and NumPy scalars as Python ones (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, float) and value != value:
        return None
    return value


def _plain_row(row: Mapping[str, Any]) -> dict:
    return {key: _plain(value) for key, value in row.items()}


def _customer_record(row: Mapping[str, Any]) -> dict:
    record = _plain_row(row)
    record["next_products"] = json.loads(record["next_products"]) if record.get("next_products") else []
    return record


def _run_record(row: Mapping[str, Any]) -> dict:
    record = _plain_row(row)
    for key in ("settings", "load_report", "models", "scorecard", "kpis", "drivers", "playbook", "notes"):
        record[key] = json.loads(record[key]) if record.get(key) else None
    return record
