"""Benchmark: the same pipeline on DuckDB, PySpark ``local[2]`` and PostgreSQL, side by side, as ratios.

    python bench/bench_engines.py --label after                      # 2M lines, three engines
    python bench/bench_engines.py --label after --sizes 10M          # 10M (long on Spark / Postgres)
    python bench/bench_engines.py --report-only                      # rewrite bench/results/engines.md

Data: a synthetic store (:func:`clv.data.synthetic.generate_store`, seed 0,
refunds, duplicates, anonymous and broken lines included so the loader's checks
have work) written once to ``bench/.data/<size>/orders.parquet`` (gitignored).
Before anything is timed, each engine gets the SAME lines (the "upload",
reported apart, never in a ratio):

* DuckDB (clv's default): the Parquet copied into an in-memory table;
* Spark: ``spark_session("local[2]")`` reads the Parquet (a view over the file);
* PostgreSQL (``--postgres-url`` / ``CLV_BENCH_POSTGRES_URL``): the lines COPY'd
  into a table of their own, ANALYZEd, dropped at the end.

Steps timed on each engine (each engine in a process of its own, one after the
other, never two at once):

1. ``load``: ``load_orders(table, con=...)`` and its ``report`` (every check);
2. ``cache``: ``LoadResult.cache()`` and a count of the cached orders (the
   classification computed once, as the pipeline then reads it);
3. ``summary``: ``summarize(cached, observation_end=...)``: every customer's row
   crosses to Python;
4. ``compressed``: the engine-side compressed summaries (distinct
   (frequency, recency, T) and (frequency, monetary_value) rows with counts);
5. ``fit``: BG/NBD and Gamma-Gamma fitted on those compressed rows (weights);
6. ``score``: ``score_customers`` with intervals on the summary. Local (pandas)
   unless an engine-side scorer is available; the table says which.

Per step: seconds, the rows and bytes that crossed to Python (every
``execute``/``to_pyarrow`` of the engine's Ibis backend, measured as Arrow), and
on Spark the jobs, stages and tasks the step ran (Spark's status tracker, one
job group per step), the stages that ran as a single task and whether the
physical plan of the step's main query holds a ``SinglePartition`` exchange.
A step that fails is shown as ``fails: <first line of the error>``.

Results: ``bench/out/engines-<label>.json`` (everything) and
``bench/results/engines.md`` (every label found, the ratios to DuckDB).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
DATA_ROOT = BENCH_DIR / ".data"
OUT_DIR = BENCH_DIR / "out"
CHILD_DIR = OUT_DIR / "engines"
RESULTS = BENCH_DIR / "results" / "engines.md"
SIZES = {"2M": 2_000_000, "10M": 10_000_000, "20k": 20_000}
ENGINES = ("duckdb", "spark", "postgres")
STEPS = ("load", "load_file", "cache", "summary", "compressed", "fit", "score")
STEP_TEXT = {
    "load": "load_orders + report",
    "load_file": "the same from the Parquet path",
    "cache": "LoadResult.cache()",
    "summary": "summarize (per customer)",
    "compressed": "compressed summaries (engine)",
    "fit": "fit BG/NBD + Gamma-Gamma (engine-side compression)",
    "score": "score_customers",
}
OBSERVATION_END = "2025-12-31"  # the synthetic store's last day
SPARK_CONF = {"spark.driver.memory": "6g"}
DEFAULT_POSTGRES_URL = "postgres://clv@127.0.0.1:54329/clv_test"


# --------------------------------------------------------------------------- data


def store_path(size: str) -> Path:
    """The Parquet of ``size`` lines, generated on first use (seed 0, with defects)."""
    path = DATA_ROOT / size / "orders.parquet"
    if not path.exists():
        from clv.data.synthetic import generate_store

        generate_store(path.parent, n_transactions=SIZES[size], seed=0, defects=True)
    return path


# --------------------------------------------------------------------------- what crosses to Python


class Crossings:
    """Counts the rows and Arrow bytes every result of an Ibis backend brings back to Python.

    Wraps ``execute``, ``to_pyarrow`` and ``to_pyarrow_batches`` of the
    backend classes; a call made inside another one is not counted twice.
    """

    def __init__(self) -> None:
        self.rows = 0
        self.bytes = 0
        self.results = 0
        self._depth = 0
        self._originals: list[tuple[type, str, Callable | None]] = []

    def reset(self) -> dict[str, int]:
        seen = {"rows": self.rows, "bytes": self.bytes, "results": self.results}
        self.rows = self.bytes = self.results = 0
        return seen

    def add(self, value: Any) -> None:
        rows, nbytes = arrow_size(value)
        self.rows += rows
        self.bytes += nbytes
        self.results += 1

    def restore(self) -> None:
        """Put back the methods :meth:`install` wrapped."""
        for backend_class, method, own in reversed(self._originals):
            if own is None:  # inherited: remove the wrapper, the parent's method shows through again
                delattr(backend_class, method)
            else:
                setattr(backend_class, method, own)
        self._originals.clear()

    def install(self, backend_class: type) -> None:
        for method in ("execute", "to_pyarrow", "to_pyarrow_batches"):
            self._originals.append((backend_class, method, backend_class.__dict__.get(method)))
        for method in ("execute", "to_pyarrow"):
            original = getattr(backend_class, method)
            setattr(backend_class, method, self._counted(original))
        original_batches = backend_class.to_pyarrow_batches
        crossings = self

        def to_pyarrow_batches(*args, **kwargs):
            import pyarrow as pa

            crossings._depth += 1
            try:
                reader = original_batches(*args, **kwargs)
                table = reader.read_all()
            finally:
                crossings._depth -= 1
            if crossings._depth == 0:
                crossings.add(table)
            return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())

        backend_class.to_pyarrow_batches = to_pyarrow_batches

    def _counted(self, original: Callable) -> Callable:
        crossings = self

        def counted(*args, **kwargs):
            crossings._depth += 1
            try:
                value = original(*args, **kwargs)
            finally:
                crossings._depth -= 1
            if crossings._depth == 0:
                crossings.add(value)
            return value

        return counted


def arrow_size(value: Any) -> tuple[int, int]:
    """(rows, bytes as Arrow) of a result: an Arrow table/array, a pandas frame or series, or a scalar."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(value, (pa.Table, pa.RecordBatch)):
        return value.num_rows, value.nbytes
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return len(value), value.nbytes
    if isinstance(value, pd.DataFrame):
        return len(value), pa.Table.from_pandas(value, preserve_index=False).nbytes
    if isinstance(value, pd.Series):
        return len(value), pa.Table.from_pandas(value.to_frame(), preserve_index=False).nbytes
    return 1, 8


# --------------------------------------------------------------------------- engines


def connect(engine: str, postgres_url: str | None):
    """An Ibis connection to ``engine`` (Spark: a local[2] session)."""
    import ibis

    if engine == "duckdb":
        from clv.engine import default_connection

        return default_connection()
    if engine == "spark":
        from clv.engine.spark import spark_session

        return ibis.pyspark.connect(spark_session("local[2]", conf=SPARK_CONF))
    if engine == "postgres":
        return ibis.connect(postgres_url)
    raise ValueError(f"unknown engine {engine!r}")


def upload(engine: str, con, parquet: Path, name: str):
    """The lines of ``parquet`` as a table on ``con`` (the untimed upload)."""
    if engine == "duckdb":
        return con.create_table(name, con.read_parquet(str(parquet)))
    if engine == "spark":
        return con.read_parquet(str(parquet), table_name=name)
    return _copy_to_postgres(con, parquet, name)


def _copy_to_postgres(con, parquet: Path, name: str):
    """CREATE TABLE + COPY (CSV, in batches) + ANALYZE: the lines as a PostgreSQL table."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    file = pq.ParquetFile(parquet)
    types = {"string": "text", "int64": "bigint", "double": "double precision", "timestamp[us]": "timestamp"}
    columns = ", ".join(f'"{f.name}" {types[str(f.type)]}' for f in file.schema_arrow)
    con.raw_sql(f'DROP TABLE IF EXISTS "{name}"')
    con.raw_sql(f'CREATE TABLE "{name}" ({columns})')
    names = ", ".join(f'"{f.name}"' for f in file.schema_arrow)
    with con.con.cursor() as cursor:
        with cursor.copy(f'COPY "{name}" ({names}) FROM STDIN (FORMAT csv)') as copy:
            for batch in file.iter_batches(batch_size=200_000):
                buffer = io.BytesIO()
                pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False))
                copy.write(buffer.getvalue())
    con.con.commit()
    con.raw_sql(f'ANALYZE "{name}"')
    return con.table(name)


def drop_table(engine: str, con, name: str) -> None:
    if engine == "postgres":
        con.raw_sql(f'DROP TABLE IF EXISTS "{name}"')
        with contextlib.suppress(Exception):
            con.con.commit()


# --------------------------------------------------------------------------- Spark: how a step spreads


class SparkSpread:
    """Jobs, stages and tasks one step ran, from Spark's status store (the jobs that are new since the step began).

    A stage Spark skipped (its shuffle output reused) ran nothing and is not
    counted. A stage of one task is what cannot spread over executors; its
    bytes (input + shuffle read) tell a trivial final step from a bottleneck.
    """

    def __init__(self, con) -> None:
        self.session = con._session  # noqa: SLF001 - Ibis keeps the session here
        self.store = self.session.sparkContext._jsc.sc().statusStore()  # noqa: SLF001 - no Python API for it
        self._before: set[int] = set()

    def _jobs(self) -> dict[int, Any]:
        jobs = self.store.jobsList(None)
        return {int(jobs.apply(i).jobId()): jobs.apply(i) for i in range(jobs.size())}

    def start(self, step: str) -> None:
        self._before = set(self._jobs())

    def finish(self, step: str) -> dict[str, Any]:
        new = [job for job_id, job in self._jobs().items() if job_id not in self._before]
        stage_ids = sorted({int(x) for job in new for x in str(job.stageIds().mkString(",")).split(",") if x})
        stages = []
        for stage_id in stage_ids:
            stage = self.store.lastStageAttempt(stage_id)
            if str(stage.status().toString()) != "COMPLETE":
                continue
            stages.append((int(stage.numTasks()), int(stage.inputBytes()) + int(stage.shuffleReadBytes())))
        single = [read for tasks, read in stages if tasks == 1]
        return {"jobs": len(new), "stages": len(stages), "tasks": sum(t for t, _ in stages),
                "tasks_per_stage": [t for t, _ in stages], "max_tasks": max((t for t, _ in stages), default=0),
                "single_task_stages": len(single), "single_task_max_bytes": max(single, default=0)}

    def single_partition(self, expression) -> bool | str:
        """Whether the physical plan of ``expression`` holds a ``SinglePartition`` exchange."""
        import ibis

        try:
            sql = ibis.to_sql(expression, dialect="pyspark")
            plan = self.session.sql(str(sql))._jdf.queryExecution().executedPlan().toString()  # noqa: SLF001
        except Exception as error:  # noqa: BLE001 - reported, not hidden
            return f"plan unreadable: {first_line(error)}"
        return "SinglePartition" in plan

    def partitions(self, table) -> int:
        import ibis

        return self.session.sql(str(ibis.to_sql(table, dialect="pyspark"))).rdd.getNumPartitions()


# --------------------------------------------------------------------------- one engine, one size


def first_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text.splitlines()[0][:200]


def engine_scorer() -> Callable | None:
    """clv's engine-side scorer (``clv.scores.score_on_engine``, issue 16) when this clv has it, else None."""
    import clv.scores

    return getattr(clv.scores, "score_on_engine", None)


def fits_engine_tables() -> bool:
    """Whether this clv's models fit from a customer table on an engine (issue 16), compressing it there."""
    from clv.models import contract

    return hasattr(contract, "_compressed_engine_table")


def count_scored_batches(counter: dict[str, int]) -> Callable[[], None]:
    """Count the customer rows the engine scorer scores in THIS process (DuckDB / PostgreSQL: every batch
    streamed through Python; Spark: only the driver's probe, the rest runs in Spark's Python workers).

    Returns the function that undoes the counting.
    """
    from clv.scores import engine_scoring

    original = engine_scoring.BatchScorer.__call__

    def counted(self, batch):
        counter["rows"] += batch.num_rows
        counter["bytes"] += batch.nbytes
        return original(self, batch)

    engine_scoring.BatchScorer.__call__ = counted
    return lambda: setattr(engine_scoring.BatchScorer, "__call__", original)


def run_engine(engine: str, size: str, postgres_url: str | None, result_path: Path, outlier_dates: str) -> None:
    """Every step on one engine; the result JSON is rewritten after each step (a killed run keeps the rest)."""
    import ibis

    from clv import LoadPolicy, load_orders, summarize
    from clv.models import BetaGeoModel, GammaGammaModel
    from clv.scores import score_customers
    from clv.summary.customers import compressed_summary, summary_expression

    result: dict[str, Any] = {"engine": engine, "size": size, "load_before": os.getloadavg()[0], "steps": {},
                              "outlier_dates": outlier_dates}

    def save() -> None:
        result["load_after"] = os.getloadavg()[0]
        result_path.write_text(json.dumps(result, indent=1, default=str))

    crossings = Crossings()
    import ibis.backends.duckdb
    import ibis.backends.postgres
    import ibis.backends.pyspark

    for backend in (ibis.backends.duckdb, ibis.backends.pyspark, ibis.backends.postgres):
        crossings.install(backend.Backend)
    parquet = store_path(size)
    con = connect(engine, postgres_url)
    name = f"bench_orders_{os.getpid()}"
    started = time.perf_counter()
    table = upload(engine, con, parquet, name)
    result["upload_seconds"] = time.perf_counter() - started
    result["lines"] = int(con.execute(table.count()))
    crossings.reset()
    spread = SparkSpread(con) if engine == "spark" else None
    if spread:
        result["source_partitions"] = spread.partitions(table)
    state: dict[str, Any] = {}
    save()

    def step(key: str, work: Callable[[], Any], plan_of: Callable[[], Any] | None = None) -> None:
        record: dict[str, Any] = {"status": "running"}
        result["steps"][key] = record
        save()
        if spread:
            spread.start(key)
        began = time.perf_counter()
        try:
            note = work()
        except Exception as error:  # noqa: BLE001 - the table says "fails: ..."
            record.update(status="fails", error=first_line(error), seconds=time.perf_counter() - began)
            traceback.print_exc()
        else:
            record.update(status="ok", seconds=time.perf_counter() - began)
            if note:
                record["note"] = note
        record.update(crossed=crossings.reset())
        if spread:
            record["spark"] = spread.finish(key)
            if plan_of is not None and record["status"] == "ok":
                record["spark"]["single_partition_exchange"] = spread.single_partition(plan_of())
        print(f"{engine} {size} {key}: {record}", flush=True)
        save()

    def load() -> None:
        state["loaded"] = load_orders(table, policy=LoadPolicy(outlier_dates=outlier_dates), con=con)
        state["report"] = state["loaded"].report
        state["accepted"] = state["report"].accepted_lines

    def load_file() -> None:
        state["from_file"] = load_orders(str(parquet), policy=LoadPolicy(outlier_dates=outlier_dates), con=con)
        if "accepted" in state and state["from_file"].report.accepted_lines != state["accepted"]:
            raise AssertionError(f"accepted {state['from_file'].report.accepted_lines:,} lines from the file, "
                                 f"{state['accepted']:,} from the table")

    def cache() -> str:
        state["cached"] = state["loaded"].cache()
        state["cached_lines"] = int(con.execute(state["cached"].orders.count()))
        return None

    def orders_source():
        return state["cached"] if "cached" in state else state["loaded"]

    def summary() -> None:
        state["summary"] = summarize(orders_source(), observation_end=OBSERVATION_END)

    def engine_summary():
        return summary_expression(orders_source(), observation_end=OBSERVATION_END)

    def compressed() -> None:
        per_customer = engine_summary()
        state["histories"] = compressed_summary(per_customer)
        repeaters = per_customer.filter((per_customer.frequency > 0) & (per_customer.monetary_value > 0))
        state["spend_rows"] = compressed_summary(repeaters, ("frequency", "monetary_value"))

    def fit() -> str:
        if fits_engine_tables():  # the public route: the engine compresses inside fit, only distinct rows cross
            per_customer = engine_summary()
            state["purchase_model"] = BetaGeoModel().fit(per_customer, time_unit="week")
            state["spend_model"] = GammaGammaModel().fit(per_customer, time_unit="week")
            return "fit(engine table): the engine compresses, its queries included"
        rows, spend = state["histories"], state["spend_rows"]
        state["purchase_model"] = BetaGeoModel().fit(rows["frequency"], rows["recency"], rows["T"],
                                                     weights=rows["count"])
        state["spend_model"] = GammaGammaModel().fit(spend["frequency"], spend["monetary_value"],
                                                     weights=spend["count"])
        return "from the compressed rows of the step before (weights)"

    def score() -> str:
        scorer = engine_scorer()
        if scorer is not None:
            counter = {"rows": 0, "bytes": 0}
            undo = count_scored_batches(counter)
            try:
                into = f"bench_scores_{os.getpid()}" if engine == "postgres" else None
                scores = scorer(state["purchase_model"], engine_summary(), spend_model=state["spend_model"],
                                horizon=52, time_unit="week", into=into)
                state["scored_rows"] = int(con.execute(scores.count()))
            finally:
                undo()
            if into:
                state["drop"] = into
            return (f"on the engine (score_on_engine); {state['scored_rows']:,} scores stay there; "
                    f"{counter['rows']:,} rows ({human_bytes(counter['bytes'])}) scored in the driver's Python")
        scored = score_customers(state["summary"], state["purchase_model"], state["spend_model"], horizon=52)
        state["scored_rows"] = len(scored)
        return "local (score_customers on the summary): no engine-side scorer in this clv"

    step("load", load, lambda: state["loaded"].classified)
    if engine != "postgres":  # a file read by the engine itself (PostgreSQL reads no Parquet)
        step("load_file", load_file, lambda: state["from_file"].classified)
    if "loaded" in state:
        step("cache", cache)
    if "cached" in state or "report" in state:
        step("summary", summary, engine_summary)
        step("compressed", compressed)
    if "histories" in state or ("report" in state and fits_engine_tables()):
        step("fit", fit)
    if "purchase_model" in state and ("summary" in state or engine_scorer() is not None):
        step("score", score)
    for key in STEPS:
        if not (key == "load_file" and engine == "postgres"):
            result["steps"].setdefault(key, {"status": "fails", "error": "an earlier step failed"})
    result["accepted_lines"] = state.get("accepted")
    result["customers"] = len(state["summary"]) if "summary" in state else None
    result["scored_rows"] = state.get("scored_rows")
    result["distinct_histories"] = len(state["histories"]) if "histories" in state else None
    if "purchase_model" in state:
        result["bgnbd_params"] = {k: float(v) for k, v in state["purchase_model"].params_.items()}
    save()
    with contextlib.suppress(Exception):
        drop_table(engine, con, name)
        if "drop" in state:
            drop_table(engine, con, state["drop"])
    if spread:
        spread.session.stop()


# --------------------------------------------------------------------------- the run


def run_all(label: str, sizes: list[str], engines: list[str], postgres_url: str, timeout: float,
            outlier_dates: str = "reject") -> Path:
    """Each (size, engine) in a child process, one at a time; returns the JSON of the run."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / f"engines-{label}.json"
    run = json.loads(out.read_text()) if out.exists() else {"label": label, "runs": []}
    run.update(commit=_commit(), machine=_machine(), outlier_dates=outlier_dates)
    for size in sizes:
        store_path(size)
        for engine in engines:
            CHILD_DIR.mkdir(parents=True, exist_ok=True)
            child_json = CHILD_DIR / f"{label}-{engine}-{size}.json"
            child_json.unlink(missing_ok=True)
            log = CHILD_DIR / f"{label}-{engine}-{size}.log"
            command = [sys.executable, __file__, "--one", engine, "--size", size, "--child-result", str(child_json),
                       "--postgres-url", postgres_url, "--outlier-dates", outlier_dates]
            print(f"{label}: {engine} {size} ...", flush=True)
            with open(log, "w") as handle:
                child = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
                try:
                    child.wait(timeout=timeout)
                    killed = False
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, 9)
                    child.wait()
                    killed = True
            found = json.loads(child_json.read_text()) if child_json.exists() else {
                "engine": engine, "size": size, "steps": {}}
            for record in found["steps"].values():
                if record.get("status") == "running":
                    record.update(status="over", error=f"over the {timeout:.0f} s limit of the run" if killed
                                  else "the process died (see the log)")
            found.setdefault("commit", run["commit"])
            if not found["steps"] and not killed:
                found["error"] = log.read_text()[-400:]
            run["runs"] = [r for r in run["runs"] if (r["engine"], r["size"]) != (engine, size)] + [found]
            out.write_text(json.dumps(run, indent=1))
    return out


def _commit() -> str:
    """The commit of the clv the children import (PYTHONPATH may point at another checkout than the bench's)."""
    import importlib.util

    spec = importlib.util.find_spec("clv")
    where = Path(spec.origin).parent if spec and spec.origin else BENCH_DIR
    done = subprocess.run(["git", "-C", str(where), "log", "-1", "--format=%h %cd", "--date=format:%H:%M"],
                          capture_output=True, text=True)
    return done.stdout.strip()


def _machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 1),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# --------------------------------------------------------------------------- the table


def cell_seconds(record: dict[str, Any] | None) -> str:
    """A step's seconds, or what stopped it ("fails: ...", "over ...")."""
    if not record:
        return "not run"
    if record.get("status") == "ok":
        seconds = record["seconds"]
        return f"{seconds:.2f}" if seconds < 100 else f"{seconds:.0f}"
    return f"{record.get('status', 'fails')}: {record.get('error', '?')}".replace("|", "/")


def ratio(record: dict[str, Any] | None, reference: dict[str, Any] | None) -> str:
    """``record``'s seconds over ``reference``'s, e.g. ``18.4x``; ``-`` when either did not finish."""
    if not record or not reference or record.get("status") != "ok" or reference.get("status") != "ok":
        return "-"
    if reference["seconds"] <= 0:
        return "-"
    return f"{record['seconds'] / reference['seconds']:.1f}x"


def human_bytes(count: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


def crossed(record: dict[str, Any] | None) -> str:
    if not record or "crossed" not in record:
        return "-"
    seen = record["crossed"]
    return f"{seen['rows']:,} rows, {human_bytes(seen['bytes'])}"


def spread_cell(record: dict[str, Any] | None) -> str:
    spark = (record or {}).get("spark")
    if not spark:
        return "-"
    text = f"{spark['jobs']} jobs, {spark['stages']} stages, {spark['tasks']} tasks (max {spark['max_tasks']}/stage)"
    text += f", {spark['single_task_stages']} single-task"
    if spark.get("single_task_stages"):
        text += f" (largest reads {human_bytes(spark.get('single_task_max_bytes', 0))})"
    plan = spark.get("single_partition_exchange")
    if plan is True:
        text += ", plan has SinglePartition"
    elif plan is False:
        text += ", no SinglePartition"
    elif plan:
        text += f", {plan}"
    return text


def engine_tables(run: dict[str, Any]) -> list[str]:
    """Markdown for one labelled run: per size, steps x engines with ratios to DuckDB."""
    policy = "" if run.get("outlier_dates", "reject") == "reject" else ", LoadPolicy(outlier_dates='keep')"
    lines = [f"### {run['label']} (commit {run.get('commit', '?')}, {run.get('machine', {}).get('date', '?')}{policy})",
             ""]
    by_key = {(r["engine"], r["size"]): r for r in run["runs"]}
    sizes = [s for s in SIZES if any(size == s for _, size in by_key)]
    engines = [e for e in ENGINES if any(engine == e for engine, _ in by_key)]
    for size in sizes:
        found = [by_key[(e, size)] for e in engines if (e, size) in by_key]
        facts = ", ".join(f"{r['engine']}: {r['lines']:,} lines" if isinstance(r.get("lines"), int)
                          else f"{r['engine']}: ?" for r in found)
        commits = {r.get("commit", run.get("commit", "?")) for r in found}
        if len(commits) > 1:
            facts += "; measured at " + ", ".join(f"{r['engine']} {r.get('commit', run.get('commit', '?'))}"
                                                  for r in found)
        loads = ", ".join(f"{r['engine']} {r.get('load_before', 0):.1f}->{r.get('load_after', 0):.1f}"
                          for r in found if "load_before" in r)
        lines += [f"**{size}** ({facts}; load average during each engine's run: {loads})", ""]
        header = "| step | " + " | ".join(f"{e} s" for e in engines)
        header += "".join(f" | {e}/duckdb" for e in engines if e != "duckdb") + " |"
        lines += [header, "|---|" + "---:|" * (len(engines) + len(engines) - ("duckdb" in engines)), ]
        duck = by_key.get(("duckdb", size), {}).get("steps", {})
        upload = "| upload (untimed in ratios) | " + " | ".join(
            f"{by_key[(e, size)]['upload_seconds']:.1f}" if "upload_seconds" in by_key.get((e, size), {}) else "-"
            for e in engines) + "".join(" | " for e in engines if e != "duckdb") + " |"
        lines.append(upload)
        for key in STEPS:
            records = [by_key.get((e, size), {}).get("steps", {}).get(key) for e in engines]
            row = f"| {STEP_TEXT[key]} | " + " | ".join(cell_seconds(r) for r in records)
            row += "".join(f" | {ratio(r, duck.get(key))}" for e, r in zip(engines, records) if e != "duckdb")
            lines.append(row + " |")
        lines += ["", "What crossed to Python (rows, Arrow bytes) and notes:", "",
                  "| step | " + " | ".join(engines) + " |", "|---|" + "---|" * len(engines)]
        for key in STEPS:
            records = [by_key.get((e, size), {}).get("steps", {}).get(key) for e in engines]
            cells = []
            for record in records:
                cell = crossed(record)
                if record and record.get("note"):
                    cell += f"; {record['note']}"
                cells.append(cell)
            lines.append(f"| {STEP_TEXT[key]} | " + " | ".join(cells) + " |")
        spark = by_key.get(("spark", size))
        if spark:
            lines += ["", f"Spark spread ({spark.get('source_partitions', '?')} input partitions):", "",
                      "| step | jobs / stages / tasks |", "|---|---|"]
            lines += [f"| {STEP_TEXT[key]} | {spread_cell(spark['steps'].get(key))} |" for key in STEPS]
        lines.append("")
    return lines


def write_markdown(runs: list[dict[str, Any]], path: Path = RESULTS) -> str:
    """bench/results/engines.md from every labelled run found (before first)."""
    order = {"before": 0, "after": 1}
    runs = sorted(runs, key=lambda r: (order.get(r["label"], 2), r["label"]))
    lines = ["# Engines: the same pipeline on DuckDB, PySpark local[2] and PostgreSQL", "",
             "Generated by `bench/bench_engines.py` (see its docstring for the steps). Seconds per step;",
             "ratios are engine / DuckDB for the same step and size. 2-core machine shared with other",
             "work (the load average is given per run: figures on a busy machine are slower than idle).", ""]
    lines += loader_summary(runs)
    for run in runs:
        lines += engine_tables(run)
    text = "\n".join(lines).rstrip() + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def loader_summary(runs: list[dict[str, Any]]) -> list[str]:
    """The loader ratio (load_orders + report) to DuckDB per run, size and engine: the issue's target line."""
    rows = []
    for run in runs:
        by_key = {(r["engine"], r["size"]): r for r in run["runs"]}
        for (engine, size), found in sorted(by_key.items(), key=lambda item: (SIZES.get(item[0][1], 0), item[0])):
            if engine == "duckdb":
                continue
            duck = by_key.get(("duckdb", size), {}).get("steps", {}).get("load")
            mine = found["steps"].get("load")
            rows.append(f"| {run['label']} | {size} | {engine} | {cell_seconds(mine)} | {cell_seconds(duck)} | "
                        f"{ratio(mine, duck)} |")
    if not rows:
        return []
    return ["Loader (load_orders + report) against DuckDB:", "",
            "| run | size | engine | engine s | duckdb s | ratio |", "|---|---|---|---:|---:|---:|", *rows, ""]


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="after", help="names the run (before / after)")
    parser.add_argument("--sizes", nargs="+", default=["2M"], choices=sorted(SIZES))
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--postgres-url", default=os.environ.get("CLV_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per engine and size")
    parser.add_argument("--outlier-dates", choices=("reject", "keep"), default="reject",
                        help="LoadPolicy(outlier_dates=...): 'keep' skips the sampled date-outlier rule")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--child-result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = _parse()
    if args.one:
        run_engine(args.one, args.size, args.postgres_url, args.child_result, args.outlier_dates)
        return
    if not args.report_only:
        engines = [e.strip() for e in args.engines.split(",") if e.strip()]
        run_all(args.label, args.sizes, engines, args.postgres_url, args.timeout, args.outlier_dates)
    runs = [json.loads(p.read_text()) for p in sorted(OUT_DIR.glob("engines-*.json"))]
    print(write_markdown(runs))


if __name__ == "__main__":
    main()
