"""``build_report``: one self-contained HTML file (inline CSS, plotly.js embedded once, no network)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from clv import __version__
from clv.errors import DataError
from clv.report.content import TECHNICAL_TERMS, Section
from clv.report.context import ReportContext, read_table_file
from clv.report.figures import plotly_js
from clv.report.sections import SECTIONS
from clv.units import TIME_UNITS as UNITS

STEP_NAMES = tuple(step for _, _, step, _ in SECTIONS) + ("writing the HTML file",)


def build_report(
    orders: Any,
    *,
    spend: Any = None,
    survey: Any = None,
    time_unit: str = "week",
    horizon: float = 52,
    calibration_end: Any = None,
    margin: float | None = None,
    observation_end: Any = None,
    title: str = "Customer lifetime value report",
    path: str | Path = "report.html",
    on_step: Callable[[str], None] | None = None,
    strict: bool = False,
    source_note: str | None = None,
    label: str | None = None,
) -> Path:
    """Compute every section once and write the report to ``path``; returns the path.

    ``orders``: a :func:`clv.data.load_orders` result (its load report becomes
    section 1) or canonical order lines (Ibis table or DataFrame). ``spend``:
    acquisition spend per channel and month (DataFrame or .csv/.parquet with
    channel, month, spend). ``survey``: NPS answers (anything
    :func:`clv.feedback.read_survey` reads). ``time_unit`` / ``horizon``: time unit of
    the models and the CLV horizon in that unit. ``calibration_end``: end of the
    backtest's fitting period (default: two thirds of the history). ``margin``:
    gross margin rate (default from the cost column). ``on_step(name)`` is called
    before each step (names in :data:`STEP_NAMES`). A section whose computation
    fails says why in the report; ``strict=True`` raises instead. ``source_note``: a
    sentence on where the orders came from (e.g. the original file's reconciliation
    when ``orders`` is a file already cleaned by ``clv load``), shown first in section 1.

    The sections, in order: data check, key numbers and drivers, cohorts, model fit and backtest,
    segments and playbook, acquisition channels (with ``spend``), what-if, cross-sell and Net
    Promoter Score (with ``survey``).

    Parameters
    ----------
    orders : LoadResult or ibis.expr.types.Table or pandas.DataFrame
        A :func:`clv.data.load_orders` result (its load report becomes section 1) or canonical
        order lines.
    spend : pandas.DataFrame or str or pathlib.Path or None, default None
        Acquisition spend per channel and month (columns ``channel``, ``month``, ``spend``), or a
        .csv/.parquet file of it; None leaves out the channel economics.
    survey : object, default None
        NPS answers, anything :func:`clv.feedback.read_survey` reads; None leaves out the NPS
        section.
    time_unit : str, default "week"
        The unit of the models and of ``horizon``; one of :data:`clv.units.TIME_UNITS`.
    horizon : float, default 52
        The CLV horizon, in ``time_unit`` (52 weeks: one year).
    calibration_end : date-like or None, default None
        End of the backtest's fitting period; default: two thirds of the history.
    margin : float or None, default None
        Gross margin rate in (0, 1]; default (revenue - cost) / revenue from the ``cost``
        column.
    observation_end : date-like or None, default None
        The last day of the data; default: the last order's day.
    title : str, default "Customer lifetime value report"
        The report's title.
    path : str or pathlib.Path, default "report.html"
        Where the HTML file is written (its folder is created).
    on_step : callable or None, default None
        Called with each step's name before it runs (the names of :data:`STEP_NAMES`), e.g. for
        a progress line.
    strict : bool, default False
        Raise a section's error instead of reporting it in the section.
    source_note : str or None, default None
        A sentence on where the orders came from, shown first in section 1.
    label : str or None, default None
        A column of the orders naming products (e.g. ``Description``): the cross-sell section shows
        each product's most frequent name in place of its id.

    Returns
    -------
    pathlib.Path
        ``path``, written: one self-contained HTML file (inline CSS, plotly.js embedded once, no
        network).

    Raises
    ------
    clv.errors.DataError
        When ``time_unit`` is not a known unit, ``horizon`` is not > 0 or ``margin`` not in
        (0, 1]; with ``strict=True``, any section's error.
    """
    if time_unit not in UNITS:
        raise DataError(f"time_unit={time_unit!r} is not one of {', '.join(UNITS)}; fix: e.g. time_unit='week'.")
    if not float(horizon) > 0:
        raise DataError(f"horizon must be a positive number of {time_unit}s, got {horizon!r}.")
    if margin is not None and not 0 < float(margin) <= 1:
        raise DataError(f"margin must be a rate in (0, 1], got {margin!r}; fix: e.g. margin=0.4.")
    ctx = ReportContext(source=orders, spend=read_table_file(spend, "spend"), survey=survey, unit=time_unit,
                        horizon=float(horizon), calibration_end=calibration_end, margin=margin,
                        observation_end=observation_end, source_note=source_note, label=label)
    started = time.perf_counter()
    sections = [_run_section(key, title, step, compute, ctx, on_step, strict) for key, title, step, compute in SECTIONS]
    if on_step:
        on_step(STEP_NAMES[-1])
    html = render(sections, ctx, title, seconds=time.perf_counter() - started)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


def _run_section(key: str, title: str, step: str, compute, ctx: ReportContext, on_step, strict: bool) -> Section:
    if on_step:
        on_step(step)
    try:
        return compute(ctx)
    except Exception as exc:  # a report with one failed section is still worth reading
        if strict:
            raise
        return Section(key, f"{title} (not computed)", "",
                       missing=f"This section could not be computed: {type(exc).__name__}: {exc}")


def render(sections: list[Section], ctx: ReportContext, title: str, seconds: float = float("nan")) -> str:
    """The page: template + sections + plotly.js once in the head."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("clv.report", "templates"), autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    template = environment.get_template("report.html.j2")
    return template.render(
        title=title, sections=sections, plotly_js=plotly_js(), notes=ctx.notes, version=__version__,
        created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), seconds=seconds,
        observation_end=ctx.observation_day.date().isoformat(), unit=ctx.unit, horizon=ctx.horizon_words,
        margin=ctx.margin_rate, definition=ctx.clv_definition, terms=TECHNICAL_TERMS,
    )
