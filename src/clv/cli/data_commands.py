"""CLI commands on order data: ``clv load``, ``clv summarize``, ``clv kpis``."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from clv.cli.common import FORMAT_OPTION, OUTPUT_OPTION, OutputFormat, emit, fail, note, progress, read_table_file
from clv.cli.outputs import write_table
from clv.cli.provenance import load_metadata, provenance_sentence, read_provenance
from clv.data import Columns, LoadPolicy
from clv.errors import DataError
from clv.units import DEFAULT_TIME_UNIT

if TYPE_CHECKING:  # imported where used: `clv --help` starts without them (tests/test_startup.py)
    import pandas as pd

    from clv.data import LoadResult

COLUMN_FIELDS = (
    "customer_id", "timestamp", "date", "amount", "order_id", "quantity", "unit_price",
    "product_id", "channel", "cost", "margin_rate", "currency",
)
POLICY_FIELDS = tuple(f.name for f in dataclasses.fields(LoadPolicy) if f.name not in ("date_format", "exchange_rates"))
"""--policy keys: every LoadPolicy field but those with their own flag (--date-format, --rate)."""

INPUT_ARGUMENT = typer.Argument(None, show_default=False, help="Orders: a CSV (.csv, .csv.gz, .txt) or a folder of them, a Parquet file or folder of parts, a spreadsheet (.xlsx, .xls, .ods), or a DuckDB file with --table. Leave it out to read --table on --engine.")
COL_OPTION = typer.Option(
    None, "--col", "-c",
    help="Map a field to your column, FIELD=COLUMN (repeatable). Fields: " + ", ".join(COLUMN_FIELDS)
    + ". Defaults are the canonical names customer_id, order_ts, amount.",
)
EXTRA_OPTION = typer.Option(None, "--extra", help="A column of yours to carry through (e.g. Country), repeatable.")
POLICY_OPTION = typer.Option(
    None, "--policy", "-p",
    help="Input policy, KEY=VALUE (repeatable), e.g. refunds=reject, duplicates=keep, cancel_prefix=none, "
    "timezone=Europe/London, decimal=','. Keys: " + ", ".join(POLICY_FIELDS) + ". 'none' clears an optional "
    "setting. See docs/data-loading.md for each key's values.",
)
RATE_OPTION = typer.Option(None, "--rate", help="Exchange rate to the reporting currency, CODE=RATE (repeatable), e.g. --rate EUR=1 --rate USD=0.92.")
DATE_FORMAT_OPTION = typer.Option(None, "--date-format", help="strftime format of text dates, e.g. %Y%m%d (default ISO 8601).")
DELIMITER_OPTION = typer.Option(None, "--delimiter", help="CSV delimiter; 'whitespace' for space-separated files.")
NAMES_OPTION = typer.Option(None, "--names", help="Comma-separated column names for a file without a header row.")
TABLE_OPTION = typer.Option(None, "--table", help="The orders table (schema.table allowed): on --engine, or in the DuckDB file given as INPUT (e.g. shop.duckdb).")
ENGINE_OPTION = typer.Option(None, "--engine", help="Where the orders are and the work runs: duckdb (default, in process), a DuckDB file (shop.duckdb, duckdb://shop.duckdb), spark, or a connection URL (postgres://user@host:5432/db, snowflake://..., bigquery://...). With --table and no INPUT, the table is read there (docs/engines.md).")
SPARK_MASTER_OPTION = typer.Option(None, "--spark-master", help="With --engine spark: the master URL (local[4], spark://host:7077, yarn); default $CLV_SPARK_MASTER, else the one spark-submit set (local[*] when run by hand).")
SPARK_CONF_OPTION = typer.Option(None, "--spark-conf", help="With --engine spark: a Spark setting KEY=VALUE (repeatable), e.g. --spark-conf spark.executor.memory=8g.")
ENCODING_OPTION = typer.Option(None, "--encoding", help="Text encoding of a CSV/text file, e.g. cp1252 or latin-1 (default UTF-8).")
SHEET_OPTION = typer.Option(None, "--sheet", help="Sheet of a spreadsheet INPUT (.xlsx, .xls, .ods): its name or 0-based number (default: the first).")
END_OPTION = typer.Option(None, "--observation-end", help="Last day observed (inclusive); later lines are set aside. Default: the last order date.")


def parse_pairs(pairs: list[str] | None, what: str, allowed: tuple[str, ...] | None = None) -> dict[str, str]:
    """Parse repeated KEY=VALUE options, naming the bad one and the allowed keys."""
    parsed: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip() or value  # a blank value stays: thousands=' ' is a space
        if not sep or not key:
            fail(f"{what} {pair!r} is not KEY=VALUE (e.g. customer_id=CustomerID).")
        if allowed is not None and key not in allowed:
            fail(f"{what} key {key!r} is not one of: {', '.join(allowed)}.")
        parsed[key] = value
    return parsed


def build_columns(cols: list[str] | None, extra: list[str] | None) -> Columns:
    mapping: dict[str, Any] = parse_pairs(cols, "--col", COLUMN_FIELDS)
    if "margin_rate" in mapping:
        mapping["margin_rate"] = _number_or_column(mapping["margin_rate"])
    if "timestamp" not in mapping and "date" not in mapping:
        mapping["timestamp"] = "order_ts"
    return Columns(**mapping, extra=tuple(extra or ()))


def _number_or_column(text: str) -> float | str:
    """``margin_rate=0.3`` is one rate for every line; ``margin_rate=Margin`` names a column."""
    try:
        return float(text)
    except ValueError:
        return text


def build_policy(policy: list[str] | None, rates: list[str] | None, date_format: str | None) -> LoadPolicy:
    options: dict[str, Any] = {key: _policy_value(key, value)
                               for key, value in parse_pairs(policy, "--policy", POLICY_FIELDS).items()}
    if rates:
        options["exchange_rates"] = {code: _rate(code, text) for code, text in parse_pairs(rates, "--rate").items()}
    if date_format:
        options["date_format"] = date_format
    return LoadPolicy(**options)


def _rate(code: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        fail(f"--rate {code}={text!r}: the rate must be a number, e.g. --rate {code}=0.92.")


def _policy_value(key: str, text: str) -> Any:
    """A --policy value as the LoadPolicy field takes it: 'none' -> None where allowed, numbers as numbers."""
    kind = typing.get_type_hints(LoadPolicy)[key]
    if text.lower() == "none" and type(None) in typing.get_args(kind):
        return None
    if kind in (float, int):
        try:
            return kind(text)
        except ValueError:
            fail(f"--policy {key}={text!r} is not a number. Fix: e.g. --policy {key}="
                 f"{getattr(LoadPolicy(), key)!r}.")
    return text


def check_date(text: str | None, flag: str) -> None:
    """Refuse a date option that is not a date, naming the option (None: not given)."""
    import pandas as pd
    if text is None:
        return
    try:
        pd.Timestamp(text)
    except (TypeError, ValueError):
        fail(f"{flag} {text!r} is not a date. Fix: give a date such as 2011-06-30.")


def is_duckdb_file(path: Path) -> bool:
    """Whether ``path`` is a DuckDB database file (its header holds 'DUCK' at byte 8)."""
    from clv.engine.connections import is_duckdb_file as duckdb_header

    return duckdb_header(path)


def engine_connection(engine: str | None, spark_master: str | None, spark_conf: list[str] | None):
    """The connection --engine names (with --spark-master, --spark-conf), or None for clv's default DuckDB.

    Errors are one line in the command line's words (:func:`clv.engine.connect_engine`
    names ``engine=``, translated to ``--engine``).
    """
    from clv.engine import connect_engine

    conf = parse_pairs(spark_conf, "--spark-conf")
    if engine is None and (spark_master is not None or conf):
        fail("--spark-master and --spark-conf configure Spark: add --engine spark (or leave them out).")
    if engine is None:
        return None
    con = connect_engine(engine, spark_master=spark_master, spark_conf=conf or None)
    _quiet_pyspark_pandas_warning()
    return con


def _quiet_pyspark_pandas_warning() -> None:
    """PySpark 4 warns on each Arrow transfer that it does not fully support pandas 3; clv's Spark route
    is tested with it (tests/engines), so the command does not repeat the warning on every run."""
    import warnings

    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)


def engine_table(con, table: str | None, engine: str):
    """--table on the --engine connection, as a load_orders source (refused in CLI words without --table)."""
    from clv.data.sources import DatabaseTable
    from clv.engine.connections import engine_label

    if table is None:
        fail(f"--engine {engine_label(engine)} reads a table: name it with --table (schema.table allowed), or give "
             "an order file as INPUT.")
    return DatabaseTable(con, table)


def _sheet(text: str | None) -> str | int | None:
    """--sheet 2 is the third sheet; any other text is a sheet name."""
    return int(text) if text is not None and text.isdigit() else text


def open_orders(
    source: Path | None, cols, extra, policy, rates, date_format, delimiter, names, table, observation_end,
    encoding=None, sheet=None, engine=None, spark_master=None, spark_conf=None,
) -> LoadResult:
    """Load the input with the mapped columns and policy (lazy until used).

    ``source`` is an order file, or None with ``engine`` and ``table``: a table
    read where it lives (the load then runs on that engine).
    """
    from clv.data import Csv, Excel, load_orders
    from clv.data.sources import resolve_source

    if source is None and engine is None:
        fail("give the orders: INPUT (a CSV, Parquet or spreadsheet file, or a folder of them), or --engine with "
             "--table for a table in a database or on Spark.")
    if source is not None and not source.exists():
        fail(f"input file {str(source)!r} does not exist. Fix: check the path.")
    check_date(observation_end, "--observation-end")
    con = engine_connection(engine, spark_master, spark_conf)
    if source is None:
        return load_orders(engine_table(con, table, engine), build_columns(cols, extra),
                           build_policy(policy, rates, date_format), observation_end=observation_end, con=con)
    if table is not None and engine is not None:
        fail(f"--table names a table on --engine, but INPUT {str(source)!r} was given too. Fix: leave INPUT out to "
             "read the table, or leave --table out to read the file.")
    if table is not None and not is_duckdb_file(source):
        fail(f"--table reads a table from a DuckDB database file; {str(source)!r} is not one. "
             "Fix: drop --table for a CSV, Parquet or spreadsheet file.")
    spec = resolve_source(
        str(source), table=table, delimiter=delimiter, header=names is None,
        names=tuple(n.strip() for n in names.split(",")) if names else None, encoding=encoding, sheet=_sheet(sheet),
    )
    if sheet is not None and not isinstance(spec, Excel):
        fail(f"--sheet chooses a sheet of a spreadsheet (.xlsx, .xls, .ods); {str(source)!r} is not one. "
             "Fix: drop --sheet.")
    if encoding is not None and not isinstance(spec, Csv):
        fail(f"--encoding is the text encoding of a CSV or text file; {str(source)!r} is not one. Fix: drop --encoding.")
    return load_orders(spec, build_columns(cols, extra), build_policy(policy, rates, date_format),
                       observation_end=observation_end, con=con)


@dataclass(frozen=True)
class OrdersInput:
    """The order file and how to read it: the arguments every orders command shares."""

    source: Path | None
    cols: list[str] | None
    extra: list[str] | None
    policy: list[str] | None
    rates: list[str] | None
    date_format: str | None
    delimiter: str | None
    names: str | None
    table: str | None
    observation_end: str | None
    encoding: str | None = None
    sheet: str | None = None
    engine: str | None = None
    spark_master: str | None = None
    spark_conf: list[str] | None = None

    @property
    def name(self) -> str:
        """The input for titles and records: the file's name, or ``TABLE on ENGINE`` (password masked)."""
        from clv.engine.connections import engine_label

        if self.source is not None:
            return self.source.name
        return f"{self.table} on {engine_label(self.engine)}"

    def open(self, extra: list[str] | None = None) -> LoadResult:
        """Load the orders (lazy); ``extra`` replaces the carried-through columns when given."""
        return open_orders(self.source, self.cols, self.extra if extra is None else extra, self.policy, self.rates,
                           self.date_format, self.delimiter, self.names, self.table, self.observation_end,
                           self.encoding, self.sheet, self.engine, self.spark_master, self.spark_conf)


_ORDERS_PARAMETERS = (
    ("source", Path, INPUT_ARGUMENT),
    ("cols", list[str], COL_OPTION),
    ("extra", list[str], EXTRA_OPTION),
    ("policy", list[str], POLICY_OPTION),
    ("rates", list[str], RATE_OPTION),
    ("date_format", str, DATE_FORMAT_OPTION),
    ("delimiter", str, DELIMITER_OPTION),
    ("names", str, NAMES_OPTION),
    ("table", str, TABLE_OPTION),
    ("observation_end", str, END_OPTION),
    ("encoding", str, ENCODING_OPTION),
    ("sheet", str, SHEET_OPTION),
    ("engine", str, ENGINE_OPTION),
    ("spark_master", str, SPARK_MASTER_OPTION),
    ("spark_conf", list[str], SPARK_CONF_OPTION),
)


def takes_orders(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the shared order-file argument and loading options.

    The command declares ``orders: OrdersInput`` instead of the ten shared
    parameters; the CLI shows them first, in the same order, for every command.
    """
    signature = inspect.signature(command)
    own = [p for name, p in signature.parameters.items() if name != "orders"]
    shared = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)
        for name, annotation, default in _ORDERS_PARAMETERS
    ]

    @functools.wraps(command)
    def with_orders(**kwargs: Any) -> Any:
        orders = OrdersInput(**{name: kwargs.pop(name) for name, _, _ in _ORDERS_PARAMETERS})
        return command(orders=orders, **kwargs)

    with_orders.__signature__ = signature.replace(parameters=shared + own)
    with_orders.__annotations__ = {
        **{name: annotation for name, annotation, _ in _ORDERS_PARAMETERS},
        **{k: v for k, v in command.__annotations__.items() if k != "orders"},
    }
    return with_orders


def report_rows(report) -> dict[str, int]:
    """The load report as flat rows: totals, then each reject reason that occurred."""
    rows = {
        "input lines": report.input_rows,
        "accepted purchase lines": report.accepted_purchase_lines,
        "netted refund lines": report.netted_refund_lines,
        "rejected lines": report.rejected_lines,
    }
    rows.update({f"  rejected: {reason}": n for reason, n in report.rejected.items() if n})
    if report.repeated_lines_kept:
        rows["identical lines kept (possible repeats)"] = report.repeated_lines_kept
    return rows


def report_notes(result: LoadResult, report, command: str = "load") -> None:
    """What the table cannot say: kept repeats, a log without amounts, and the fixes for the top reasons."""
    from clv.cli.wording import to_cli

    if report.repeated_lines_kept:
        n = report.repeated_lines_kept
        lines = f"{n:,} line is" if n == 1 else f"{n:,} lines are"
        maybe = "it may be a genuine repeat purchase" if n == 1 else "they may be genuine repeat purchases"
        note(f"{lines} identical to an earlier line with neither an order id nor a time of day, so "
             f"{maybe}: kept. "
             "--policy duplicates=drop drops such lines.", label="note: ")
    if not report.has_amounts:
        note("no amount column: this is a purchase log; purchase counts, P(alive) and expected purchases work, "
             "value (spend, CLV, the classic formula) needs --col amount=COLUMN.", label="note: ")
    if report.rejected_lines:
        for hint in result.hints(report):
            note(to_cli(hint, command), label="hint: ")


def register(app: typer.Typer) -> None:
    app.command("load")(load_command)
    app.command("summarize")(summarize_command)
    app.command("kpis")(kpis_command)


@takes_orders
def load_command(
    orders: OrdersInput,
    rejects: Path = typer.Option(None, "--rejects", help="Write the set-aside lines (source row, reason, original values) here (.csv or .parquet)."),
    orders_out: Path = typer.Option(None, "--orders", help="Write the accepted lines in the canonical schema here (.parquet or .csv); a .parquet file also records this load report, which clv load and clv report show when they read it."),
    fmt: OutputFormat = FORMAT_OPTION,
    output: Path = OUTPUT_OPTION,
) -> None:
    """Check and load order lines: count accepted, netted and rejected lines by reason (totals always add up)."""
    from clv.data import LoadRejectedError

    origin = read_provenance(orders.source)
    with progress("loading and checking lines"):
        result = orders.open()
        try:
            report = result.report
        except LoadRejectedError as refused:
            if rejects is None:
                raise
            write_table(result.rejects, result.con, rejects)
            raise DataError(f"{refused} The rejected lines are in {rejects}.") from None
        if rejects is not None:
            write_table(result.rejects, result.con, rejects)
        if orders_out is not None:
            write_table(result.orders, result.con, orders_out,
                        metadata=load_metadata(orders.source or orders.name, report))
    payload = report.as_dict() if fmt is OutputFormat.json else report_rows(report)
    if origin is not None:
        note(provenance_sentence(origin), label="note: ")
        if fmt is OutputFormat.json:
            payload["cleaned_from"] = origin
    emit(payload, fmt, output, title=f"load report: {orders.name}")
    report_notes(result, report)


@takes_orders
def summarize_command(
    orders: OrdersInput,
    time_unit: str = typer.Option(DEFAULT_TIME_UNIT, "--time-unit", "-u", help="Time unit of recency and T: day, week (default), month (365.25/12 days), quarter or year. Saved with a .parquet --output, so later commands need not repeat it."),
    merge: str = typer.Option("day", "--merge", help="Merge purchases per calendar 'day' (literature) or per 'unit' period (lifetimes' freq=)."),
    calibration_end: str = typer.Option(None, "--calibration-end", help="Also split: calibration summary to this date plus holdout frequency/value to --observation-end."),
    compressed: bool = typer.Option(False, "--compressed", help="Print distinct (frequency, recency, T) rows with their customer counts."),
    totals: bool = typer.Option(True, "--totals/--no-totals", help="Also count orders and sum net revenue and margin; --no-totals gives the model inputs only, about twice as fast on large files."),
    fmt: OutputFormat = FORMAT_OPTION,
    output: Path = OUTPUT_OPTION,
) -> None:
    """Per-customer summary: frequency, recency, T, monetary value, first/last purchase, orders, revenue."""
    from clv.summary import calibration_holdout, compressed_summary, summarize

    check_date(calibration_end, "--calibration-end")
    with progress("summarising customers"):
        result = orders.open()
        if calibration_end:
            frame = calibration_holdout(
                result, calibration_end=calibration_end, observation_end=orders.observation_end, time_unit=time_unit, merge=merge
            )
        else:
            frame = summarize(result, observation_end=orders.observation_end, time_unit=time_unit, merge=merge,
                              totals=totals)
        if compressed:
            frame = compressed_summary(frame)
    note(f"{len(frame):,} rows; time unit {time_unit}, merge per {merge}")
    if not compressed:
        _note_refunds(frame)
    emit(frame, fmt, output, title="customer summary")


def _note_refunds(data: Any) -> None:
    """Name the largely refunded customers (their refunds are netted before their value is modelled)."""
    from clv.summary.refunds import largely_refunded_sentence

    if not hasattr(data, "largely_refunded"):  # not customer data (nothing to name)
        return
    sentence = largely_refunded_sentence(data.largely_refunded(), currency=data.currency)
    if sentence:
        note(sentence + " Column largely_refunded flags them.")


@takes_orders
def kpis_command(
    orders: OrdersInput,
    time_unit: str = typer.Option("auto", "--time-unit", help="Period of frequency, churn and lifespan: year, quarter or month; default auto: picked from the data (the shortest period at least as long as the median time between orders whose churn the history can measure). The CLV changes with the period: the run states the period used and the CLV at the others."),
    margin: float = typer.Option(None, "--margin", help="Gross margin rate (0-1]; default from the cost column."),
    churn: float = typer.Option(None, "--churn", help="Churn rate per period; default estimated from consecutive periods."),
    lifespan: float = typer.Option(None, "--lifespan", help="Expected lifetime in periods (overrides churn)."),
    cac: str = typer.Option(None, "--cac", help="Acquisition cost: a number, or a CSV/Parquet spend table with columns channel, month, spend."),
    segment_by: str = typer.Option(None, "--segment-by", help="Segment column (value on each customer's first order), or acquisition_month / acquisition_quarter. CSV and --output then hold one table: a 'segment' column whose first row is 'overall', then one row per segment."),
    drivers: str = typer.Option(None, "--drivers", help="Instead: the four drivers (AOV, frequency, margin, churn) per 'month' or 'quarter'."),
    fmt: OutputFormat = FORMAT_OPTION,
    output: Path = OUTPUT_OPTION,
) -> None:
    """Classic formula CLV = AOV x frequency x lifespan x margin (- CAC), overall and per segment; or the drivers over time."""
    from clv.formula import classic_clv, drivers_over_time

    with progress("computing KPIs"):
        result = orders.open()
        if drivers:
            if drivers not in ("month", "quarter"):
                fail(f"--drivers must be month or quarter, not {drivers!r}.")
            emit(drivers_over_time(result.orders, time_unit=drivers, margin=margin), fmt, output, title=f"drivers per {drivers}")
            return
        kpis = classic_clv(
            result.orders, time_unit=time_unit, margin=margin, churn_rate=churn, lifespan=lifespan,
            cac=_parse_cac(cac), segment_by=segment_by,
        )
    for line in kpis.notes:
        note(line, label="note: ")
    if fmt is OutputFormat.json or (output is not None and output.suffix.lower() == ".json"):
        emit(kpis.to_dict(), OutputFormat.json, output)
        return
    period = kpis.settings["period"]
    if kpis.by_segment is None:
        emit(kpis.overall, fmt, output, title=f"classic CLV per {period}")
    elif fmt is OutputFormat.table and output is None:
        emit(kpis.overall, fmt, None, title=f"classic CLV per {period}")
        emit(kpis.by_segment, fmt, None, title=f"by {segment_by or 'channel'}")
    else:
        emit(overall_and_segments(kpis.overall, kpis.by_segment), fmt, output)
    if fmt is OutputFormat.table and output is None and kpis.by_period is not None:
        emit(kpis.by_period, fmt, None, title="the same orders per year, quarter and month")


def overall_and_segments(overall: pd.DataFrame, by_segment: pd.DataFrame) -> pd.DataFrame:
    """One table: a ``segment`` column whose first row is 'overall', then one row per segment."""
    import pandas as pd
    first = overall.assign(segment="overall")
    table = pd.concat([first, by_segment], ignore_index=True, sort=False)
    return table[["segment", *(c for c in table.columns if c != "segment")]]


def _parse_cac(cac: str | None) -> Any:
    if cac is None:
        return None
    try:
        return float(cac)
    except ValueError:
        if not Path(cac).is_file():
            fail(f"--cac {cac!r} is neither a number nor an existing spend file. "
                 "Fix: give a number (e.g. --cac 25) or a CSV/Parquet file with columns channel, month, spend.")
        return read_table_file(Path(cac), "--cac spend file")
