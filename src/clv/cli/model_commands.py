"""``clv fit`` and ``clv score``: fit a model on a customer summary, score customers with it."""

from __future__ import annotations

import enum
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from clv import models as registry
from clv.cli.common import (
    FORMAT_OPTION,
    OUTPUT_OPTION,
    OutputFormat,
    emit,
    note,
    progress,
    read_table_file,
)
from clv.errors import DataError, missing_column_message

if TYPE_CHECKING:  # imported where used: `clv --help` starts without them (tests/test_startup.py)
    import numpy as np
    import pandas as pd

# The CLI's model choice is the registry's (clv.models): a registered model is a --model value.
ModelName = enum.Enum("ModelName", {name: name for name in registry.model_names()}, type=str)


class TimeUnit(str, enum.Enum):
    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"


def model_class(name: str):
    """The model class behind a CLI model name (from the registry, :func:`clv.models.model_class`)."""
    return registry.model_class(name)


def purchase_model_names() -> tuple[str, ...]:
    """The registered purchase (transaction) models."""
    return registry.model_names("purchase")


def load_model(path: Path):
    """A fitted model from a JSON file written by ``clv fit --save`` (any model type)."""
    if not Path(path).is_file():
        raise DataError(f"model file {str(path)!r} does not exist. Fix: check the path, or write it with clv fit --save.")
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{str(path)!r} is not a model JSON file written by `clv fit --save` ({exc}). "
                        "Fix: give the file clv fit --save wrote.") from None
    name = payload.get("model") if isinstance(payload, dict) else None
    if name not in registry.model_names():
        raise DataError(f"{str(path)!r}: unknown model {name!r}; expected one of {list(registry.model_names())}. "
                        "Fix: give the file clv fit --save wrote.")
    return registry.load_model(payload)


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file of one row per customer."""
    return read_table_file(Path(path), "input file")


def take_columns(frame: pd.DataFrame, wanted: dict[str, str], what: str) -> dict[str, np.ndarray]:
    """Canonical name -> column values, with a one-line error listing the columns found."""
    found = [str(c) for c in frame.columns]
    out = {}
    for canonical, column in wanted.items():
        if column not in frame.columns:
            option = canonical.replace("_", "-")
            raise DataError(missing_column_message(canonical.replace("_", " "), column, found).split(" Fix:")[0]
                            + f" Fix: pass --{option}-col with the {what} column's name.")
        out[canonical] = frame[column].to_numpy()
    return out


def fit_model(name: str, frame: pd.DataFrame, columns: dict[str, str | None], time_unit: str | None = None,
              fallback: bool = True, covariates: dict[str, Any] | None = None):
    """Fit the named model on the summary ``frame`` with the given column names; the model records ``time_unit``.

    The columns follow the model's family (and, for purchase models, whether
    it counts whole periods: BG/BB's ``n_periods``). Purchase models go
    through the model ladder (:func:`clv.models.ladder.fit_purchase_model`):
    the NBD when the data show no churn, unless ``fallback`` is False.
    """
    import warnings

    from clv.models.ladder import FallbackWarning, fit_purchase_model

    weights = take_columns(frame, {"weights": columns["weights"]}, "weights")["weights"] if columns["weights"] else None
    model = model_class(name)()
    if covariates is not None:
        return _fit_with_covariates(model, frame, columns, time_unit, fallback, covariates, weights)
    if model.family == "purchase":
        age = "n_periods" if model.capabilities.discrete_time else "t"
        data = take_columns(frame, {k: columns[k] for k in ("frequency", "recency", age)}, "summary")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FallbackWarning)  # the model note says it, in CLI words
            return fit_purchase_model((data["frequency"], data["recency"], data[age]), name, fallback=fallback,
                                      time_unit=time_unit, weights=weights)
    if model.family == "contractual":
        data = take_columns(frame, {k: columns[k] for k in ("tenure", "churned")}, "subscription")
        return model.fit(data["tenure"], data["churned"], weights=weights, time_unit=time_unit)
    from clv.summary import summary_is_log

    if columns["monetary"] not in frame.columns and summary_is_log(frame):
        raise DataError("this history has no amounts: the Gamma-Gamma spend model needs amounts; fix: name the "
                        "amount column with --amount-col COLUMN (with --from-orders), or give a summary that has "
                        "a monetary_value column (--monetary-col). BG/NBD, MBG/NBD and Pareto/NBD fit without amounts.")
    data = take_columns(frame, {k: columns[k] for k in ("frequency", "monetary")}, "summary")
    return model.fit(data["frequency"], data["monetary"], weights=weights, time_unit=time_unit)


def _fit_with_covariates(model, frame, columns, time_unit, fallback, covariates, weights):
    """`clv fit --covariates`: the summary as customer data with the covariates, through the ladder (purchase models)."""
    import warnings

    import pandas as pd

    from clv.models.contract import covariate_models, supports_covariates
    from clv.models.ladder import FallbackWarning, fit_purchase_model

    if not supports_covariates(model):
        able = ", ".join(covariate_models(model.family)) or "none yet"
        raise DataError(f"--covariates: model {model.model_name!r} does not take covariates (models that do: {able}). "
                        "Fix: choose one of them with --model, or leave --covariates out.")
    age = "n_periods" if model.family == "purchase" and model.capabilities.discrete_time else "t"
    wanted = {"frequency": columns["frequency"], "recency": columns["recency"], "T": columns[age]} \
        if model.family == "purchase" else {"frequency": columns["frequency"], "monetary_value": columns["monetary"]}
    table = frame.table if hasattr(frame, "table") else frame
    canonical = pd.DataFrame(take_columns(table, wanted, "summary"))
    if "customer_id" in table.columns:
        canonical.insert(0, "customer_id", table["customer_id"].to_numpy())
    base = frame.with_table(canonical) if hasattr(frame, "with_table") else canonical
    data = customer_data_with_covariates(base, covariates, time_unit, "customer_id")
    if model.family != "purchase":
        return model.fit(data, weights=weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        return fit_purchase_model(data, model.model_name, fallback=fallback, weights=weights)


def model_note(model) -> None:
    """One note line (stderr): which purchase model the ladder used and why, and the data-sufficiency verdict."""
    choice, sufficiency = getattr(model, "model_choice_", None), getattr(model, "sufficiency_", None)
    if choice is None:
        return
    text = str(choice).replace("(no fallback)", "(--no-fallback)").replace(
        "allow the fallback", "leave --no-fallback out")
    note(f"{text}; {sufficiency}" if sufficiency is not None else text)


def fit_report(model, source: Path, time_unit: str | None) -> dict[str, Any]:
    """What `clv fit --format json` prints: model, params, log-likelihood, n, SEs, CIs, AIC, BIC.

    It is a whole saved model too (covariance included), so `clv score --model`
    reads a file written by `clv fit --output` as well as one from `--save`.
    """
    return {"input": str(source), "time_unit": time_unit, **model.to_dict()}


def parse_intervals(text: str) -> tuple[float, ...]:
    """'0.8,0.95' -> (0.8, 0.95); 'none' or '' -> ()."""
    if text.strip().lower() in ("", "none", "no"):
        return ()
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise DataError(f"--intervals must be coverages separated by commas, e.g. 0.8,0.95 (or none); got {text!r}.") from None


def summary_for_scoring(frame: Any, columns: dict[str, str | None], model) -> Any:
    """The summary with canonical column names for :func:`clv.scores.score_customers` (``model``: the purchase model).

    Customer data keeps its context (time unit, dates) around the new table.
    """
    import pandas as pd
    t_key = "n_periods" if model.capabilities.discrete_time else "t"
    data = take_columns(frame, {"frequency": columns["frequency"], "recency": columns["recency"], "T": columns[t_key]}, "summary")
    if columns["monetary"] in frame.columns:
        data["monetary_value"] = frame[columns["monetary"]].to_numpy()
    elif columns["monetary"] != "monetary_value":  # asked for by name, so it must be there
        take_columns(frame, {"monetary": columns["monetary"]}, "monetary value")
    if columns["id"] in frame.columns:
        data = {"customer_id": frame[columns["id"]].to_numpy(), **data}
    if "largely_refunded" in frame.columns:  # carried to the scores (clv.summary.refunds)
        data["largely_refunded"] = frame["largely_refunded"].to_numpy()
    table = pd.DataFrame(data)
    return frame.with_table(table) if hasattr(frame, "with_table") else table  # customer data keeps its context


def orders_options(customer, date, amount, order_id, date_format, delimiter, names, observation_end,
                   encoding=None, engine=None, table=None, spark_master=None, spark_conf=None) -> dict[str, Any]:
    """The --from-orders options of fit and score, as read by :func:`read_input`."""
    return {"customer": customer, "date": date, "amount": amount, "order_id": order_id, "date_format": date_format,
            "delimiter": delimiter, "names": names, "observation_end": observation_end, "encoding": encoding,
            "engine": engine, "table": table, "spark_master": spark_master, "spark_conf": spark_conf}


def input_or_table(path: Path | None, from_orders: bool, orders: dict[str, Any]) -> str:
    """INPUT's name for notes and reports, or ``TABLE on ENGINE``; refuses a missing INPUT or a misplaced --engine/--table."""
    from clv.engine.connections import engine_label

    on_engine = orders.get("engine") is not None or orders.get("table") is not None
    if on_engine and not from_orders:
        raise DataError("--engine and --table read order lines: add --from-orders (or leave them out to read a "
                        "summary file).")
    if path is not None:
        return path.name
    if orders.get("engine") is None:
        raise DataError("give INPUT (a customer summary file, or an order file with --from-orders), or --from-orders "
                        "--engine ENGINE --table TABLE to read order lines where they live.")
    return f"{orders.get('table')} on {engine_label(orders['engine'])}"


def orders_from_file(path: Path, orders: dict[str, Any]):
    """The order lines of ``path`` read with the --from-orders options (:func:`clv.data.load_orders`)."""
    from clv.data import Columns, LoadPolicy, load_orders
    from clv.data.sources import resolve_source

    from clv.cli.data_commands import engine_connection, engine_table

    names = tuple(n.strip() for n in orders["names"].split(",")) if orders["names"] else None
    columns = Columns(customer_id=orders["customer"], date=orders["date"], amount=orders["amount"], order_id=orders["order_id"])
    policy = LoadPolicy(date_format=orders["date_format"]) if orders["date_format"] else None
    con = engine_connection(orders.get("engine"), orders.get("spark_master"), orders.get("spark_conf"))
    if path is None:  # --engine with --table: the order lines where they live
        return load_orders(engine_table(con, orders.get("table"), orders["engine"]), columns, policy, con=con)
    if con is not None and orders.get("table") is not None:
        raise DataError(f"--table names a table on --engine, but INPUT {str(path)!r} was given too. Fix: leave INPUT "
                        "out to read the table, or leave --table out to read the file.")
    spec = resolve_source(str(path), table=orders.get("table"), delimiter=orders["delimiter"], header=names is None,
                          names=names, encoding=orders["encoding"])
    return load_orders(spec, columns, policy, con=con)


def summary_from_orders(path: Path, orders: dict[str, Any], unit: str, loaded=None) -> pd.DataFrame:
    """Order lines -> canonical per-customer summary in ``unit`` (clv.data.load_orders + clv.summary.summarize)."""
    from clv.summary.customers import summarize

    loaded = loaded if loaded is not None else orders_from_file(path, orders)
    summary = summarize(loaded, observation_end=orders["observation_end"], time_unit=unit, totals=False)  # model inputs only
    if summary.empty:
        raise DataError(f"no purchase could be read from {path}: {loaded.report.as_dict()['rejected']} "
                        "(check --date-col/--date-format/--amount-col).")
    return summary


def input_time_unit(data: Any, given: str | None) -> str | None:
    """The time unit of the input: the one the customer data carries (a different --time-unit is refused), else --time-unit."""
    carried = getattr(data, "time_unit", None)
    if carried and given and carried != given:
        raise DataError(f"the summary is in {carried}s (its Parquet file says so) but --time-unit is {given}. "
                        f"Fix: leave --time-unit out, or summarise again with --time-unit {given}.")
    return carried or given


def read_input(path: Path, from_orders: bool, orders: dict[str, Any], unit: str | None, loaded=None) -> pd.DataFrame:
    """INPUT as a per-customer summary: read it, or build it from order lines with --from-orders
    (``loaded``: those order lines when already read)."""
    if not from_orders:
        return read_table(path)
    return summary_from_orders(path, orders, unit or "day", loaded)


FROM_ORDERS = typer.Option(False, "--from-orders", help="INPUT holds order lines: summarise them first (in --time-unit, default day).")
CUSTOMER_COL = typer.Option("customer_id", "--customer-col", help="--from-orders: customer id column.")
DATE_COL = typer.Option(None, "--date-col", help="--from-orders: order date or timestamp column.")
AMOUNT_COL = typer.Option(None, "--amount-col", help="--from-orders: order amount column.")
ORDER_ID_COL = typer.Option(None, "--order-id-col", help="--from-orders: order id column (optional).")
DATE_FORMAT = typer.Option(None, "--date-format", help="--from-orders: strftime format of text dates, e.g. %Y%m%d.")
DELIMITER = typer.Option(None, "--delimiter", help="--from-orders: field separator of a text file, or 'whitespace'.")
NAMES = typer.Option(None, "--names", help="--from-orders: comma-separated column names of a file without header.")
OBSERVATION_END = typer.Option(None, "--observation-end", help="--from-orders: last day of the observation window.")
ENCODING = typer.Option(None, "--encoding", help="--from-orders: text encoding of the order file, e.g. cp1252 (default UTF-8).")
ENGINE = typer.Option(None, "--engine", help="--from-orders: where the order lines are and the summary runs: duckdb (default), a DuckDB file, spark, or a connection URL (postgres://user@host/db, ...); with --table and no INPUT (docs/engines.md).")
TABLE = typer.Option(None, "--table", help="--from-orders: the orders table (schema.table allowed) on --engine, or in the DuckDB file given as INPUT.")
SPARK_MASTER = typer.Option(None, "--spark-master", help="--engine spark: the master URL (local[4], spark://host:7077, yarn); default $CLV_SPARK_MASTER.")
SPARK_CONF = typer.Option(None, "--spark-conf", help="--engine spark: a Spark setting KEY=VALUE (repeatable).")
COVARIATES = typer.Option(None, "--covariates", help="Static covariates: a CSV or Parquet file with one row per customer (customer id + columns), joined by customer id; categorical columns are encoded against their most frequent level (stated). BG/NBD and MBG/NBD use them (docs/models/covariates.md).")
COVARIATE_COLS = typer.Option(None, "--covariate-cols", help="--covariates: the columns to use, comma-separated (default: every column but the id).")
COVARIATE_ID = typer.Option("customer_id", "--covariate-id", help="--covariates: the customer id column of the covariates file.")


def register(app: typer.Typer) -> None:
    """Add ``fit`` and ``score`` to the ``clv`` app."""
    app.command("fit")(fit_command)
    app.command("score")(score_command)


FREQUENCY_COL = typer.Option("frequency", "--frequency-col", help="Column of repeat purchases (frequency).")
RECENCY_COL = typer.Option("recency", "--recency-col", help="Column of the last purchase's time since the first (recency).")
T_COL = typer.Option("T", "--t-col", help="Column of the customer's age at the end of calibration (T).")
MONETARY_COL = typer.Option("monetary_value", "--monetary-col", help="Column of the mean repeat-order value.")
N_PERIODS_COL = typer.Option("n_periods", "--n-periods-col", help="BG/BB: column of the number of purchase opportunities.")
TENURE_COL = typer.Option("tenure", "--tenure-col", help="sBG: column of periods survived (renewals so far; period of cancellation if churned).")
CHURNED_COL = typer.Option("churned", "--churned-col", help="sBG: column, 1/true if the customer has churned.")


def covariate_options(path: Path | None, cols: str | None, covariate_id: str) -> dict[str, Any] | None:
    """The --covariates options as read by :func:`customer_data_with_covariates` (None without --covariates)."""
    if path is None:
        if cols:
            raise DataError("--covariate-cols was given without --covariates. Fix: add --covariates FILE.")
        return None
    columns = [c.strip() for c in cols.split(",") if c.strip()] if cols else None
    return {"path": path, "columns": columns, "id": covariate_id}


def customer_data_with_covariates(frame: Any, covariates: dict[str, Any], unit: str | None, id_column: str,
                                  design: Any = None) -> Any:
    """The summary as customer data with the --covariates file joined by customer id (``design``: a fitted model's)."""
    from clv.summary import CustomerData, attach_covariates

    table = frame.table if hasattr(frame, "table") else frame
    if id_column not in table.columns:
        raise DataError(f"--covariates joins by customer id, but the summary has no {id_column!r} column. Fix: give "
                        "a summary with its customer ids (clv summarize writes customer_id).")
    data = frame if isinstance(frame, CustomerData) else CustomerData(
        table.rename(columns={id_column: "customer_id"}), time_unit=unit or "week",
        has_amounts="monetary_value" in table.columns)
    read_table_file(Path(covariates["path"]), "--covariates file")  # a missing or unreadable file in CLI words
    return attach_covariates(data.without_covariates(), covariates["path"],
                             None if design is not None else covariates["columns"],
                             id_column=covariates["id"], design=design)


def fit_command(
    input: Path | None = typer.Argument(None, show_default=False, help="Customer summary (CSV or Parquet), one row per customer or per distinct history; order lines with --from-orders (or leave it out for --engine with --table)."),
    model: ModelName = typer.Option(..., "--model", "-m", help="Which model to fit."),
    save: Path | None = typer.Option(None, "--save", help="Write the fitted model as JSON (input of `clv score`)."),
    time_unit: TimeUnit | None = typer.Option(None, "--time-unit", help="Unit of recency/T in INPUT; stored in the saved model."),
    frequency_col: str = FREQUENCY_COL,
    recency_col: str = RECENCY_COL,
    t_col: str = T_COL,
    monetary_col: str = MONETARY_COL,
    n_periods_col: str = N_PERIODS_COL,
    weights_col: str | None = typer.Option(None, "--weights-col", help="Column counting the customers that share each row."),
    tenure_col: str = TENURE_COL,
    churned_col: str = CHURNED_COL,
    from_orders: bool = FROM_ORDERS,
    customer_col: str = CUSTOMER_COL,
    date_col: str | None = DATE_COL,
    amount_col: str | None = AMOUNT_COL,
    order_id_col: str | None = ORDER_ID_COL,
    date_format: str | None = DATE_FORMAT,
    delimiter: str | None = DELIMITER,
    names: str | None = NAMES,
    observation_end: str | None = OBSERVATION_END,
    encoding: str | None = ENCODING,
    engine: str | None = ENGINE,
    table: str | None = TABLE,
    spark_master: str | None = SPARK_MASTER,
    spark_conf: list[str] | None = SPARK_CONF,
    fallback: bool = typer.Option(True, "--fallback/--no-fallback", help="BG/NBD, MBG/NBD, Pareto/NBD: fall back to the NBD without dropout when the data show no churn (docs/models/nbd.md); --no-fallback keeps the requested model (with a note) or its refusal."),
    covariates: Path | None = COVARIATES,
    covariate_cols: str | None = COVARIATE_COLS,
    covariate_id: str = COVARIATE_ID,
    fmt: OutputFormat = FORMAT_OPTION,
    output: Path | None = OUTPUT_OPTION,
) -> None:
    """Fit a model (BG/NBD, MBG/NBD, Pareto/NBD, NBD, BG/BB, sBG or Gamma-Gamma) on a customer summary.

    Purchase models go through the model ladder: a note says which model was used and why, and the data-sufficiency
    verdict; both are saved in the model JSON ("model_choice", "sufficiency").
    """
    columns = {"frequency": frequency_col, "recency": recency_col, "t": t_col, "monetary": monetary_col,
               "n_periods": n_periods_col, "weights": weights_col, "tenure": tenure_col, "churned": churned_col}
    orders = orders_options(customer_col, date_col, amount_col, order_id_col, date_format, delimiter, names,
                            observation_end, encoding, engine, table, spark_master, spark_conf)
    source = input_or_table(input, from_orders, orders)
    frame = read_input(input, from_orders, orders, time_unit.value if time_unit else None)
    unit = input_time_unit(frame, time_unit.value if time_unit else None)
    if time_unit is None and unit is not None and registry.model_family(model.value) != "spend":
        note(f"time unit {unit}, as recorded in {source}")
    with progress(f"fitting {model.value}"):
        fitted = fit_model(model.value, frame, columns, unit, fallback=fallback,
                           covariates=covariate_options(covariates, covariate_cols, covariate_id))
    model_note(fitted)
    report = fit_report(fitted, input if input is not None else source, unit)
    if save is not None:
        save.write_text(json.dumps(fitted.to_dict(), indent=2))
        note(f"saved {fitted.model_name} model to {save}")
    if fmt is OutputFormat.table and output is None:
        table = fitted.summary().reset_index()
        title = (f"{fitted.model_name}: log-likelihood {fitted.log_likelihood_:.2f}, AIC {fitted.aic_:.1f}, "
                 f"BIC {fitted.bic_:.1f}, n {fitted.n_:g}")
        emit(table, fmt, None, title=title)
    else:
        emit(report, fmt, output)


def score_command(
    summary: Path | None = typer.Argument(None, show_default=False, help="Customer summary (CSV or Parquet) in the model's time unit; order lines with --from-orders (or leave it out for --engine with --table)."),
    model: Path = typer.Option(..., "--model", "-m", help="Model JSON from `clv fit --save`: a transaction model (bgnbd, mbgnbd, pareto, bgbb) or an sBG subscription model."),
    spend_model: Path | None = typer.Option(None, "--spend-model", help="Gamma-Gamma model JSON; without it the monetary column is the spend per order."),
    horizon: float = typer.Option(..., "--horizon", help="Forecast horizon in the model's time unit (e.g. 52 weeks), or inf for the whole remaining lifetime (purchase models: with --intervals none). sBG: whole contract periods, or inf."),
    time_unit: TimeUnit | None = typer.Option(None, "--time-unit", help="Unit of recency/T/horizon; default: the one saved with the model."),
    discount_rate: float = typer.Option(0.10, "--discount-rate", help="Annual discount rate (0.1 = 10% a year), for every model; sBG converts it to its contract period: (1 + d) ** (years per period) - 1."),
    margin: float = typer.Option(1.0, "--margin", help="Profit margin as a fraction of revenue (sBG: multiplies the value per period)."),
    discount_step: TimeUnit = typer.Option(TimeUnit.month, "--discount-step", help="Transaction models: purchases are discounted at the end of each such step (sBG: payments at period starts)."),
    intervals: str = typer.Option("0.8,0.95", "--intervals", help="Central prediction intervals, e.g. 0.8,0.95, or none."),
    draws: int = typer.Option(200, "--draws", help="Monte Carlo draws per distinct history (or per distinct (x, T))."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the interval draws."),
    interval_method: str = typer.Option("auto", "--interval-method", help="auto, factorised or simulate (see docs/scoring.md)."),
    id_col: str = typer.Option("customer_id", "--id-col", help="Customer id column (optional)."),
    frequency_col: str = FREQUENCY_COL,
    recency_col: str = RECENCY_COL,
    t_col: str = T_COL,
    monetary_col: str = MONETARY_COL,
    n_periods_col: str = N_PERIODS_COL,
    tenure_col: str = TENURE_COL,
    churned_col: str = CHURNED_COL,
    value_col: str | None = typer.Option(None, "--value-col", help="sBG: column of each customer's value per contract period (fee or margin); adds residual_value columns."),
    value_per_period: float | None = typer.Option(None, "--value-per-period", help="sBG: one value per contract period for every customer (instead of --value-col)."),
    from_orders: bool = FROM_ORDERS,
    customer_col: str = CUSTOMER_COL,
    date_col: str | None = DATE_COL,
    amount_col: str | None = AMOUNT_COL,
    order_id_col: str | None = ORDER_ID_COL,
    date_format: str | None = DATE_FORMAT,
    delimiter: str | None = DELIMITER,
    names: str | None = NAMES,
    observation_end: str | None = OBSERVATION_END,
    encoding: str | None = ENCODING,
    engine: str | None = ENGINE,
    table: str | None = TABLE,
    spark_master: str | None = SPARK_MASTER,
    spark_conf: list[str] | None = SPARK_CONF,
    covariates: Path | None = COVARIATES,
    covariate_cols: str | None = COVARIATE_COLS,
    covariate_id: str = COVARIATE_ID,
    curve: bool = typer.Option(False, "--curve", help="Write each customer's value curve and next-order timing instead of the scores: expected purchases and value per --curve-step up to --horizon (inf: 36 months and the lifetime), 3/12/36-month and lifetime value, P(a purchase in 30/90 days), the next order's date with an 80% range, P(alive) in a year (docs/scoring.md)."),
    curve_periods: int | None = typer.Option(None, "--curve-periods", min=1, help="With --curve: the number of periods of the curve (default: up to --horizon)."),
    curve_step: TimeUnit | None = typer.Option(None, "--curve-step", help="With --curve: the length of one period (default month; BG/BB: its own period)."),
    fmt: OutputFormat = FORMAT_OPTION,
    output: Path | None = OUTPUT_OPTION,
) -> None:
    """Score customers: P(alive), expected purchases, expected spend, CLV and prediction intervals.

    With an sBG model (subscriptions, see docs/scoring-subscriptions.md) SUMMARY has one row per
    subscriber with tenure and churned columns, and the output has p_renew_next, expected_renewals,
    derl (discounted expected residual lifetime), residual_value and renewals/residual_value quantiles.
    """
    from clv.scores import score_customers

    columns = {"frequency": frequency_col, "recency": recency_col, "t": t_col, "monetary": monetary_col,
               "n_periods": n_periods_col, "id": id_col}
    orders = orders_options(customer_col, date_col, amount_col, order_id_col, date_format, delimiter, names,
                            observation_end, encoding, engine, table, spark_master, spark_conf)
    input_or_table(summary, from_orders, orders)
    transactions = load_model(model)
    if curve and transactions.family != "purchase":
        raise DataError(f"--curve needs a purchase model ({', '.join(purchase_model_names())}); {model} holds "
                        f"{transactions.model_name!r}. Fix: leave --curve out, or pass a purchase model.")
    if transactions.family == "contractual":
        subscription = {"tenure": tenure_col, "churned": churned_col, "id": id_col, "value": value_col,
                        "value_per_period": value_per_period}
        options = {"horizon": horizon, "time_unit": time_unit.value if time_unit else None, "discount_rate": discount_rate,
                   "margin": margin, "intervals": intervals, "draws": draws, "seed": seed,
                   "interval_method": interval_method, "spend_model": spend_model, "from_orders": from_orders}
        scores, title = score_subscriptions(summary, transactions, model, subscription, options)
        emit(scores, fmt, output, title=title)
        return
    if transactions.family != "purchase":
        raise DataError(f"--model must be a transaction model ({', '.join(purchase_model_names())}) or an sBG model; {model} holds {transactions.model_name!r}.")
    if not curve and (curve_periods is not None or curve_step is not None):
        raise DataError("--curve-periods and --curve-step shape the value curve: add --curve (or leave them out).")
    spend = load_model(spend_model) if spend_model is not None else None
    if spend is not None and spend.family != "spend":
        raise DataError(f"--spend-model must be a {'/'.join(registry.model_names('spend'))} model; {spend_model} holds {spend.model_name!r}.")
    saved = getattr(transactions, "time_unit_", None)
    given = time_unit.value if time_unit else None
    loaded = orders_from_file(summary, orders) if from_orders else None
    data = read_input(summary, from_orders, orders, given or saved, loaded)
    unit = input_time_unit(data, given or (None if hasattr(data, "time_unit") else saved))
    if unit is None:
        raise DataError("give --time-unit (the unit of recency, T and --horizon): neither the summary nor the "
                        "model file records one.")
    if saved and unit != saved and not transactions.capabilities.discrete_time:  # BG/BB refuses (scorer)
        note(f"the summary is in {unit}s and the model was fitted in {saved}s: recency and T are converted to "
             f"{saved}s; --horizon is read in {unit}s.")
    frame = summary_for_scoring(data, columns, transactions)
    frame = scoring_covariates(frame, transactions, covariate_options(covariates, covariate_cols, covariate_id), unit)
    if curve:
        table, title = score_curve(frame, transactions, spend, horizon=horizon, unit=unit, discount_rate=discount_rate,
                                   margin=margin, periods=curve_periods, step=curve_step.value if curve_step else None,
                                   whole_table=output is not None or fmt is not OutputFormat.table)
        emit(table, fmt, output, title=title)
        return
    levels = parse_intervals(intervals)
    calibration, calibration_note = interval_calibration(loaded, data, transactions, spend, horizon, unit, levels,
                                                         margin, draws, seed)
    with progress("scoring customers"):
        scores = score_customers(
            frame, transactions, spend, horizon=horizon, time_unit=unit, discount_rate=discount_rate,
            margin=margin, discount_step=discount_step.value, intervals=levels,
            n_draws=draws, seed=seed, interval_method=interval_method, interval_calibration=calibration,
        )
    if calibration_note:
        note(calibration_note)
    span = "the whole remaining lifetime" if horizon == float("inf") else f"{horizon:g} {unit}s"
    emit(scores, fmt, output, title=f"scores over {span}")


def scoring_covariates(frame: Any, model, covariates: dict[str, Any] | None, unit: str) -> Any:
    """The scoring summary with the covariates the model was fitted with (encoded as in the fit), or as it is."""
    fitted_with = tuple(getattr(model, "covariate_names_", ()) or ())
    if not fitted_with:
        if covariates is not None:
            raise DataError(f"--covariates: the model ({model.model_name}) was fitted without covariates. Fix: leave "
                            "--covariates out, or fit with clv fit --covariates FILE.")
        return frame
    if covariates is None:
        raise DataError(f"the model was fitted with the covariates {list(fitted_with)}: give the same covariates file "
                        "with --covariates FILE (and --covariate-id COL if its id column is not customer_id).")
    design = getattr(model, "covariate_design_", None)
    if design is None and covariates["columns"] is None:
        raise DataError("the model file does not record how its covariates were encoded. Fix: give "
                        "--covariate-cols as in clv fit.")
    return customer_data_with_covariates(frame, covariates, unit, "customer_id", design=design)


def score_curve(frame, model, spend, *, horizon: float, unit: str, discount_rate: float, margin: float,
                periods: int | None, step: str | None, whole_table: bool):
    """`clv score --curve`: one table per customer of next-order timing and the value curve (and its title).

    The curve's periods run to --horizon unless --curve-periods is given (inf: 36 months, the default of
    :func:`clv.scores.value_curve`); the lifetime value is always added. On the terminal only the summary
    columns are shown (a file or --format csv/json gets every period).
    """
    import pandas as pd

    from clv.scores import purchase_timing, value_curve
    from clv.units import DAYS_PER_UNIT, check_time_unit

    check_time_unit(unit)
    curve_step = step or (unit if model.capabilities.discrete_time or DAYS_PER_UNIT[unit] > DAYS_PER_UNIT["month"]
                          else "month")
    if model.capabilities.discrete_time and curve_step != unit:
        raise DataError(f"--curve-step must be {unit} for {model.model_name} (it counts whole {unit}s); got {curve_step}.")
    if periods is None and horizon != float("inf"):
        periods = max(1, math.ceil(horizon * DAYS_PER_UNIT[unit] / DAYS_PER_UNIT[curve_step] - 1e-9))
    with progress("computing value curves and next-order timing"):
        curve = value_curve(frame, model, spend, periods=periods, step=curve_step, time_unit=unit,
                            discount_rate=discount_rate, margin=margin)
        timing = purchase_timing(frame, model, time_unit=unit)
    for text in timing.notes:
        note(text)
    summary_columns = ["p_alive", *(c for c in curve.columns if c.endswith(("_lifetime", *curve.milestones))
                                    and not c.startswith("purchases_"))]
    per_period = [c for c in curve.columns if c.split("_", 1)[-1].isdigit()]
    milestone_purchases = [c for c in curve.columns if c.startswith("purchases_") and not c.split("_", 1)[1].isdigit()]
    timing_columns = [c for c in timing.columns if c != "customer_id"]
    if not whole_table:  # the terminal: the few columns a person reads (chances, value, the next order in words)
        summary_columns = [c for c in summary_columns if c != "discounted_purchases_lifetime"]
        timing_columns = [c for c in timing_columns if c.startswith("p_") and not c.endswith("y")] + ["next_order"]
        milestone_purchases = []
    columns = [curve.table[["customer_id"]], curve.table[summary_columns], timing.table[timing_columns]]
    columns.append(curve.table[milestone_purchases + (per_period if whole_table else [])])
    table = pd.concat(columns, axis=1)
    title = f"value curves: {curve.periods} {curve_step}s from {curve.observation_end or 'the observation end'}"
    if not whole_table:
        title += " (per-period columns: write a file with --output, or --format csv)"
    return curve.with_table(table), title


def interval_calibration(loaded, data, model, spend, horizon: float, unit: str, levels, margin: float, draws: int,
                         seed: int):
    """(The intervals' recalibration from the order lines of ``--from-orders``, or None; the note that says which).

    A per-customer summary alone cannot be cut again in time, so its intervals stay at their
    nominal levels (docs/scoring.md, "Recalibrated intervals"). The note is shown once the
    scores are computed.
    """
    from clv.errors import ClvError
    from clv.scores.calibration import calibrate_intervals

    if not levels or horizon == float("inf"):
        return None, None
    if loaded is None:
        return None, ("intervals are the model's at their nominal levels, not recalibrated: recalibration needs the "
                      "order lines (score them with --from-orders). On real data nominal 80% intervals held 83-95% "
                      "of holdout customers (README, Interval coverage).")
    try:
        with progress("recalibrating the intervals on a backtest inside the data"):
            calibration = calibrate_intervals(loaded, model, spend, calibration_end=data.observation_end,
                                              horizon=horizon, time_unit=unit, intervals=levels, n_draws=draws,
                                              seed=seed)
    except ClvError as exc:
        return None, f"intervals not recalibrated ({exc}); they are the model's at their nominal levels."
    return calibration, str(calibration)


def score_subscriptions(summary: Path, model, model_path: Path, columns: dict[str, Any], options: dict[str, Any]):
    """`clv score` with an sBG model: checked options -> (scores frame, table title)."""
    from clv.scores.subscriptions import score_subscribers

    horizon, unit = sbg_horizon_and_unit(model, options)
    frame, value = subscriber_frame(read_table(summary), columns, options["margin"], model_path)
    if unit is None:
        raise DataError("give --time-unit (the contract period, e.g. month): the model file does not record one, "
                        "and the annual --discount-rate is converted to a rate per period.")
    with progress("scoring subscribers"):
        scores = score_subscribers(
            frame, model, horizon=horizon, discount_rate=options["discount_rate"], time_unit=unit,
            value_per_period=value,
            intervals=parse_intervals(options["intervals"]), n_draws=options["draws"], seed=options["seed"],
            tenure_col=columns["tenure"], churned_col=columns["churned"], id_col=columns["id"],
        )
    scores = scores.with_table(scores.rename(columns={columns["id"]: "customer_id"}).reset_index(drop=True))
    periods = f"{unit}s" if unit else "periods"
    note(f"sBG: --discount-rate {options['discount_rate']:g} a year is "
         f"{scores.discount_rate_per_contract_period:.4g} per {unit}; the next payment is undiscounted.")
    title = "scores over the remaining lifetime" if horizon is None else f"scores over {horizon} {periods}"
    return scores, title


def sbg_horizon_and_unit(model, options: dict[str, Any]) -> tuple[int | None, str | None]:
    """--horizon (inf = lifetime) and the period unit; refuses the options that do not apply to sBG."""
    not_applicable = (
        (options["spend_model"] is not None, "--spend-model (give the value per period with --value-col or --value-per-period)"),
        (options["from_orders"], "--from-orders (give one row per subscriber with tenure and churned columns)"),
        (options["interval_method"] != "auto", "--interval-method (sBG quantiles come from the exact predictive tail)"),
    )
    for given, what in not_applicable:
        if given:
            raise DataError(f"an sBG model does not use {what}.")
    horizon = options["horizon"]
    if horizon == float("inf"):
        horizon = None
    elif not (horizon >= 0 and horizon == round(horizon)):
        raise DataError(f"--horizon must be a whole number of contract periods for an sBG model (or inf for the "
                        f"whole remaining lifetime); got {horizon:g}.")
    saved = getattr(model, "time_unit_", None)
    unit = options["time_unit"] or saved
    if saved and unit != saved:
        raise DataError(f"--time-unit {unit} differs from the contract period the model was fitted in ({saved}).")
    return (None if horizon is None else int(horizon)), unit


def subscriber_frame(frame: pd.DataFrame, columns: dict[str, Any], margin: float, model_path: Path):
    """(subscribers, value_per_period argument): tenure, churned, id and value columns under their own names.

    The value per period is --margin times --value-col (a column) or --value-per-period (a number).
    """
    import pandas as pd
    if columns["tenure"] not in frame.columns:
        message = missing_column_message("tenure", columns["tenure"], map(str, frame.columns)).split(" Fix:")[0]
        raise DataError(f"{message} Fix: pass --tenure-col with the tenure column's name ({model_path} holds an sBG "
                        f"subscription model; summaries of frequency/recency/T need a transaction model: "
                        f"{', '.join(purchase_model_names())}).")
    take_columns(frame, {"churned": columns["churned"]}, "churned")
    wanted = [columns["tenure"], columns["churned"]] + [c for c in (columns["id"],) if c in frame.columns]
    if columns["value"] is not None and columns["value_per_period"] is not None:
        raise DataError("give either --value-col or --value-per-period, not both.")
    if columns["value_per_period"] is not None:
        return frame[wanted], margin * columns["value_per_period"]
    if columns["value"] is None:
        if margin != 1.0:
            raise DataError("--margin multiplies the value per period: give --value-col or --value-per-period.")
        return frame[wanted], None
    value = columns["value"]
    take_columns(frame, {"value": value}, "value per period")
    out = frame[list(dict.fromkeys(wanted + [value]))].copy()
    if margin != 1.0:
        try:
            out[value] = margin * pd.to_numeric(out[value])
        except (TypeError, ValueError) as exc:
            raise DataError(f"column {value!r} (value per period) must be numeric: {exc}. "
                            "Fix: pass --value-col with a numeric column.") from None
    return out, value
