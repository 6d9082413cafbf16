"""The sections of the report: each computes its numbers once and says in plain words what they mean."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clv.units import convert_duration
from clv.report import figures as fig
from clv.report.content import (
    FigureBlock, Metric, Section, TableBlock, money, number, pct, plain_words, predictor_label, ratio,
    table_from_frame,
)
from clv.report.context import CLV_OVER_TIME_MONTHS, DISCOUNT_RATE, ReportContext


def _figure(key: str, figure, reading: str) -> FigureBlock:
    return FigureBlock(key=key, html=fig.figure_html(figure, f"chart-{key}"), reading=reading)


def _change(before: float, after: float) -> str:
    return "n/a" if not before else pct(after / before - 1, signed=True)


# 1. data check --------------------------------------------------------------------------------

def data_check(ctx: ReportContext) -> Section:
    section = Section("data", "1. Data check: every order line accounted for",
                      "Before any number is computed, every line of the order file is either kept, netted "
                      "(a refund subtracted from its customer's purchases) or set aside with a reason.")
    if ctx.load_result is None:
        section.missing = ("The orders were given as a ready table rather than a file, so there is no load report: "
                           "the lines were not checked here. Load them with clv.data.load_orders to get one.")
        return section
    report = ctx.load_result.report
    section.metrics = [
        Metric("input_rows", "lines in the file", number(report.input_rows), report.input_rows),
        Metric("accepted_purchase_lines", "purchase lines kept", number(report.accepted_purchase_lines),
               report.accepted_purchase_lines),
        Metric("netted_refund_lines", "refund lines netted", number(report.netted_refund_lines),
               report.netted_refund_lines),
        Metric("rejected_lines", "lines set aside", number(report.rejected_lines), report.rejected_lines),
    ]
    reasons = pd.DataFrame({"reason": list(report.rejected), "lines": list(report.rejected.values())})
    reasons = reasons[reasons["lines"] > 0].sort_values("lines", ascending=False)
    reasons["share"] = reasons["lines"] / max(report.input_rows, 1)
    if len(reasons):  # no table without a row: an empty table reads as a failure
        section.tables.append(table_from_frame(
            reasons, "Lines set aside, by reason",
            {"reason": ("reason", lambda r: r.replace("_", " ")), "lines": ("lines", number),
             "share": ("share of all lines", pct)},
            key="rejected"))
    kept = (report.accepted_purchase_lines + report.netted_refund_lines) / max(report.input_rows, 1)
    finding = f"{pct(kept)} of the {number(report.input_rows)} lines are used."
    if not len(reasons):
        finding += " No line was set aside."
    else:
        top = reasons.iloc[0]
        finding += (f" The most common reason to set a line aside is '{top['reason'].replace('_', ' ')}' "
                    f"({number(top['lines'])} lines, {pct(top['share'])} of all lines).")
    if ctx.source_note:
        section.findings.append(ctx.source_note[0].upper() + ctx.source_note[1:])
    section.findings.append(finding)
    return section


# 1b. large refunds -------------------------------------------------------------------------

_REFUNDED_NAMED = 5  # customers listed in the large-refunds table


def large_refunds(ctx: ReportContext) -> Section:
    """Customers whose purchases were largely refunded: named with their amounts, and their CLV after netting."""
    from clv.summary.refunds import LARGELY_REFUNDED_SHARE

    section = Section("refunds", "1b. Large refunds: purchases cancelled after the fact",
                      f"A refund is subtracted from the purchase it cancels before spend is modelled, and a purchase "
                      f"refunded in full does not count as one. Customers with at least {LARGELY_REFUNDED_SHARE:.0%} "
                      "of their purchases refunded are flagged (column largely_refunded in the scores).")
    flagged = ctx.summary.largely_refunded() if hasattr(ctx.summary, "largely_refunded") else pd.DataFrame()
    if flagged.empty:
        section.findings.append(f"No customer had {LARGELY_REFUNDED_SHARE:.0%} or more of their purchases refunded.")
        return section
    named = flagged.head(_REFUNDED_NAMED).copy()
    formats = {"customer_id": ("customer", None), "gross_revenue": ("bought", money),
               "refunded": ("refunded", money), "refund_share": ("share refunded", pct)}
    clv_rank = _clv_rank(ctx)
    if clv_rank is not None:
        named = named.merge(clv_rank, on="customer_id", how="left")
        formats.update({"clv": ("predicted CLV after netting", money), "clv_rank": ("CLV rank", number)})
    section.tables.append(table_from_frame(named, f"Largest refunds (top {len(named)} of {number(len(flagged))})",
                                           formats, key="large_refunds"))
    top = named.iloc[0]
    finding = (f"{number(len(flagged))} customers had at least {LARGELY_REFUNDED_SHARE:.0%} of their purchases refunded. "
               f"The largest: customer {top['customer_id']} bought {money(top['gross_revenue'])} and "
               f"{money(top['refunded'])} of it was refunded")
    if top["gross_revenue"] >= ctx.summary["gross_revenue"].quantile(0.9):
        finding += "; counted gross, that spend is among the top 10% of customers and would drive a top CLV"
    if clv_rank is not None and pd.notna(top.get("clv_rank")):
        finding += (f"; netted, their predicted CLV is {money(top['clv'])}, rank {number(top['clv_rank'])} "
                    f"of {number(len(clv_rank))}")
    section.findings.append(finding + ".")
    return section


def _clv_rank(ctx: ReportContext) -> pd.DataFrame | None:
    """customer_id, clv and its rank (1 = highest), or None when the scores cannot be computed."""
    from clv.errors import ClvError

    try:
        scores = ctx.scores
    except ClvError:
        return None
    frame = pd.DataFrame({"customer_id": scores["customer_id"], "clv": scores["clv"]})
    frame["clv_rank"] = frame["clv"].rank(ascending=False, method="min")
    return frame


# 2. KPIs and drivers ------------------------------------------------------------------------

def kpis(ctx: ReportContext) -> Section:
    from clv.formula import classic_clv, drivers_over_time

    result = classic_clv(ctx.orders, margin=ctx.margin_argument, end=ctx.observation_day)
    overall, period = result.overall.iloc[0], result.settings["period"]
    section = Section("kpis", "2. Key numbers and the four drivers of CLV",
                      f"The classic formula: CLV per customer = average order value x orders per customer per {period} "
                      f"x gross margin / churn per {period}. It is a rule of thumb, not the predicted CLV of the "
                      "sections below (defined at the top), and it changes with the period it is computed per. "
                      "Below: the whole history, then the four drivers month by month.")
    customers = int(overall["customers"])
    section.metrics = [
        Metric("customers", "customers", number(customers), customers),
        Metric("orders", "orders", number(overall["orders"]), int(overall["orders"])),
        Metric("revenue", "net revenue", money(overall["revenue"]), float(overall["revenue"])),
        Metric("aov", "average order value", money(overall["aov"]), float(overall["aov"])),
        Metric("purchase_frequency", f"orders per customer per {period}", number(overall["purchase_frequency"], 2),
               float(overall["purchase_frequency"])),
        Metric("margin", "gross margin rate", pct(overall["margin"]), float(overall["margin"])),
        Metric("churn", f"churn per {period}", pct(overall["churn_rate"]), float(overall["churn_rate"])),
        Metric("classic_clv", f"classic CLV per customer (computed per {period})", money(overall["clv"]),
               float(overall["clv"])),
    ]
    section.findings.append(result.notes[0])
    if result.by_period is not None:
        section.findings.append(_period_dependence(result.by_period, period))
        section.tables.append(table_from_frame(
            result.by_period.assign(used=result.by_period["used"].map({True: "used", False: ""})),
            "The same orders, valued by the classic formula per year, per quarter and per month",
            {"period": ("computed per", None), "purchase_frequency": ("orders per customer per period",
                                                                     lambda v: number(v, 2)),
             "churn_rate": ("churn per period", pct), "churn_source": ("churn", None),
             "clv": ("classic CLV per customer", money), "used": ("in this report", None)}, key="classic_by_period"))
        section.notes.extend(note for note in result.notes[2:])
    drivers = drivers_over_time(ctx.orders, time_unit="month", margin=ctx.margin_argument, end=ctx.observation_day)
    drivers = drivers[drivers["complete"] & (drivers["customers_active"] > 0)].copy()
    drivers["period"] = drivers["period"].astype(str)
    if len(drivers) >= 2:
        section.figures.append(_figure("drivers", fig.drivers_figure(drivers), _drivers_reading(drivers)))
        clv = drivers.dropna(subset=["clv"])
        if len(clv):
            section.figures.append(_figure("classic_clv", fig.line_figure(
                clv["period"], {"CLV per customer (monthly formula)": clv["clv"]},
                "Classic-formula CLV, computed month by month", "month", "CLV per customer"),
                f"Computed per month from each month's active customers (their revenue that month x margin / "
                f"monthly churn), the classic CLV per customer went from {money(clv['clv'].iloc[0])} "
                f"({clv['period'].iloc[0]}) to {money(clv['clv'].iloc[-1])} ({clv['period'].iloc[-1]}); "
                "it counts only customers who bought that month, so it is higher than the per-month figure over "
                "all customers in the table below, and it swings with monthly churn: read the trend."))
    else:
        section.notes.append("Fewer than two complete months of orders: no drivers over time.")
    section.findings.insert(0,
        f"An average customer orders {number(overall['purchase_frequency'], 2)} times a {period} at "
        f"{money(overall['aov'])} per order; {pct(overall['churn_rate'])} of a {period}'s buyers do not buy the "
        f"next {period}, so the classic formula, computed per {period}, values a customer at "
        f"{money(overall['clv'])} of gross margin.")
    return section


def _period_dependence(by_period: pd.DataFrame, period: str) -> str:
    """One sentence: the classic CLV at every period, and why they differ."""
    figures = ", ".join(f"{money(row.clv)} per {row.period}" for row in by_period.itertuples())
    return (f"The same orders give a classic CLV of {figures}: churn counts a customer who skips a period as lost, so "
            f"the shorter the period, the lower the figure. The key numbers above are per {period}.")


def _drivers_reading(drivers: pd.DataFrame) -> str:
    first, last = drivers.iloc[0], drivers.iloc[-1]
    parts = [f"average order value {money(first['aov'])} -> {money(last['aov'])}",
             (f"orders per active customer per month {number(first['purchase_frequency'], 2)} -> "
              f"{number(last['purchase_frequency'], 2)}"),
             f"margin {pct(first['margin'])} -> {pct(last['margin'])}"]
    churn = drivers["churn"].dropna()
    if len(churn):
        parts.append(f"monthly churn {pct(churn.iloc[0])} -> {pct(churn.iloc[-1])}")
    return f"From {first['period']} to {last['period']}: " + "; ".join(parts) + "."


# 3. cohorts ------------------------------------------------------------------------------------

def cohorts(ctx: ReportContext) -> Section:
    from clv.cohorts import clv_over_time, retention_matrix, retention_wide

    section = Section("cohorts", "3. Cohorts: who comes back, and what a customer is worth over time",
                      "A cohort is everyone whose first purchase fell in the same month. Retention is the share "
                      "of a cohort buying again in a later month. Margin over time is the gross margin a customer "
                      "has brought, added up month by month since the first purchase (not the CLV defined at the "
                      "top, which looks ahead from today).")
    long = retention_matrix(ctx.orders, observation_end=ctx.observation_day)
    wide = retention_wide(long)
    later = long[long["months_since_acquisition"] > 0]
    if len(later):
        section.figures.append(_figure("retention", fig.retention_heatmap(wide), _retention_reading(later)))
    transactions, spend = ctx.models
    curves = clv_over_time(ctx.orders, transaction_model=transactions, spend_model=spend, time_unit=ctx.unit,
                           margin=ctx.margin_argument, observation_end=ctx.observation_day,
                           horizon=convert_duration(CLV_OVER_TIME_MONTHS, "month", ctx.unit)).overall
    section.figures.append(_figure("clv_over_time", fig.line_figure(
        curves["months_since_acquisition"],
        {"observed": curves["margin_per_customer"], "observed + projected": curves["projected_margin_per_customer"]},
        "Gross margin per customer, cumulative, by months since the first purchase",
        "months since first purchase", "margin per customer", dashed=("observed + projected",)),
        _curve_reading(curves)))
    at = curves.set_index("months_since_acquisition")["projected_margin_per_customer"]
    section.metrics = [
        Metric("cohorts", "monthly cohorts", number(len(wide)), len(wide)),
        Metric("margin_12m", "margin per customer, first 12 months", money(at.get(12)), at.get(12)),
        Metric("margin_36m", f"margin per customer, first {CLV_OVER_TIME_MONTHS} months",
               money(at.get(CLV_OVER_TIME_MONTHS)), at.get(CLV_OVER_TIME_MONTHS)),
    ]
    return section


def _retention_reading(later: pd.DataFrame) -> str:
    def weighted(k: int) -> float | None:
        cells = later[later["months_since_acquisition"] == k]
        return float(cells["active"].sum() / cells["customers"].sum()) if len(cells) else None

    one = weighted(1)
    text = f"On average {pct(one)} of new customers buy again in the month after their first purchase"
    last_k = 12 if weighted(12) is not None else int(later["months_since_acquisition"].max())
    if last_k > 1:
        text += f"; {last_k} months later {pct(weighted(last_k))} buy in that month"
    return text + "."


def _curve_reading(curves: pd.DataFrame) -> str:
    by_k = curves.set_index("months_since_acquisition")
    observed_until = int(by_k["margin_per_customer"].dropna().index.max())
    k12 = min(12, int(by_k.index.max()))
    return (f"A customer brings on average {money(by_k.loc[k12, 'projected_margin_per_customer'])} of gross margin "
            f"in the first {k12} months and {money(by_k['projected_margin_per_customer'].iloc[-1])} by month "
            f"{int(by_k.index.max())}; months up to {observed_until} have been seen in at least one cohort, "
            f"the rest is the model's projection (dashed).")


# 4. model fit and backtest ---------------------------------------------------------------------

def _choice_sentence(ctx: ReportContext) -> str:
    """Which purchase model the ladder used and why, and the data-sufficiency verdict, in one sentence."""
    choice, verdict = ctx.model_choice, ctx.sufficiency
    return f"{choice}; the data are {verdict.verdict} for it ({'; '.join(verdict.reasons) or 'every threshold met'})."


def model_fit(ctx: ReportContext) -> Section:
    from clv.backtest import backtest

    transactions, spend = ctx.models
    purchase_label = ctx.purchase_model_label
    section = Section("models", "4. Model fit and backtest: can the predictions be trusted?",
                      f"{purchase_label} predicts {ctx.purchase_model_role}; "
                      "Gamma-Gamma predicts how much they spend per order. The backtest hides the most recent "
                      "period, fits on the past only, and checks the predictions against what customers then did.")
    section.findings.append(plain_words(f"Purchase model: {_choice_sentence(ctx)}"))
    purchases = f"{purchase_label} (purchases{'' if transactions.model_name == 'nbd' else ' and drop-out'})"
    for name, model in ((purchases, transactions), ("Gamma-Gamma (spend per order)", spend)):
        params = model.summary().reset_index()
        section.tables.append(table_from_frame(
            params, f"{name}: parameters with 95% intervals",
            {"parameter": ("parameter", None), "estimate": ("estimate", lambda v: number(v, 4)),
             "ci95_lower": ("95% low", lambda v: number(v, 4)), "ci95_upper": ("95% high", lambda v: number(v, 4))},
            key="params"))
    split = ({"calibration_end": ctx.calibration_end} if ctx.calibration_end is not None
             else {"calibration_fraction": 2 / 3})
    result = backtest(ctx.orders, observation_end=ctx.observation_day, time_unit=ctx.unit, margin=ctx.margin_rate,
                      n_draws=100, **split)
    settings = result.settings
    section.metrics = [
        Metric("best_model", "best predictor", predictor_label(result.best), result.best),
        Metric("calibration_end", "fitted on orders up to", str(settings["calibration_end"]), settings["calibration_end"]),
        Metric("backtest_customers", "customers in the backtest", number(settings["customers"]), settings["customers"]),
    ]
    holdout = f"{settings['calibration_end']} to {settings['observation_end']}"
    section.findings.append(plain_words(f"Best over the holdout ({holdout}): {result.best}. Why: {result.best_reason}"))
    metrics = result.metrics.copy()
    section.tables.append(table_from_frame(
        metrics, f"Holdout accuracy ({holdout})",
        {"predictor": ("predictor", predictor_label), "kind": ("kind", None),
         "value_total_error_pct": ("total value off by", lambda v: f"{v:+.1f}%"),
         "value_mae": ("average error per customer", money),
         "value_rmse": ("typical error per customer", money),
         "value_spearman": ("ranking agreement", lambda v: number(v, 3)),
         "value_top20_capture": ("top 20% capture", pct)},
        key="accuracy"))
    figures = result.figures()
    if "tracking" in figures:
        tracking = figures["tracking"]
        for trace in tracking.data:  # model names for people, in the legend and the hover
            name, _, rest = str(trace.name).partition(" ")
            trace.name = " ".join(filter(None, (predictor_label(name), rest)))
        section.figures.append(_figure("tracking", fig.styled(tracking, height=560), _tracking_reading(result)))
    coverage = _coverage(metrics)
    if coverage is None:  # an empty chart reads as a failure: say it in words
        section.notes.append("No model gave prediction intervals in the backtest (see why below), so there is no "
                             "chart of how often the intervals held.")
    else:
        section.figures.append(_figure("coverage", *coverage))
    section.notes.append(_interval_calibration_note(settings))
    if result.warnings:
        section.notes.extend(plain_words(warning) for warning in result.warnings)
    if result.failed is not None:
        section.notes.extend(f"{predictor_label(row.predictor)} could not be compared ({row.stage}): "
                             f"{plain_words(str(row.reason))}" for row in result.failed.itertuples())
    if ctx.purchase_model_has_dropout:
        uses = f"the what-if and the segments need {purchase_label}'s drop-out probability"
    else:
        uses = (f"{purchase_label} assumes no customer leaves, so the segments' churn risk comes from how long ago "
                "each customer last bought and whether their order rate fell, and the what-if's churn rows change nothing")
    section.notes.append(f"The scores in the sections below use {purchase_label} + Gamma-Gamma fitted on the whole "
                         f"history (the CLV defined at the top; {uses}).")
    ctx.results["backtest"] = result
    return section


def _tracking_reading(result) -> str:
    best = result.metrics.set_index("predictor").loc[result.best]
    holdout = f"{result.settings['calibration_end']} to {result.settings['observation_end']}"
    return (f"Over the holdout ({holdout}), {predictor_label(result.best)} predicted "
            f"{number(best['purchases_predicted_total'])} purchases against "
            f"{number(best['purchases_actual_total'])} that happened "
            f"(off by {best['purchases_total_error_pct']:+.1f}%); the dotted line is where fitting stopped.")


def _interval_calibration_note(settings: dict) -> str:
    """Whether the intervals of the coverage chart were recalibrated, in plain words."""
    calibrations = settings.get("interval_calibration")
    done = [name for name, c in calibrations.items() if isinstance(c, dict)] if isinstance(calibrations, dict) else []
    if not done:
        return "The prediction intervals are the models' own, not recalibrated."
    inner = calibrations[done[0]]
    return (f"The prediction intervals of {', '.join(map(predictor_label, done))} were recalibrated before the "
            "check: the same models were "
            f"fitted on orders up to {inner['inner_calibration_end']} and scored on the "
            f"{inner['inner_holdout_length']:.0f} {inner['time_unit']}s up to {inner['calibration_end']}, and the "
            "interval widths were adjusted until the right share of those customers fell inside them "
            "(no order after the fitting period was used).")


def _coverage(metrics: pd.DataFrame):
    """The interval-coverage chart and its reading; None when no model has a coverage to show."""
    columns = sorted(c for c in metrics.columns if c.startswith("value_coverage_"))
    models = metrics[metrics["kind"] == "model"]
    if not columns or models.empty or not np.isfinite(models[columns].to_numpy(float)).any():
        return None
    models = models[np.isfinite(models[columns].to_numpy(float)).any(axis=1)]
    levels = [float(c.rsplit("_", 1)[1]) for c in columns]
    series = {f"{level:.0%} interval": models[c].to_numpy(float) for level, c in zip(levels, columns)}
    import plotly.graph_objects as go

    labels = [predictor_label(p) for p in models["predictor"]]
    figure = go.Figure([go.Bar(x=labels, y=v, name=k) for k, v in series.items()])
    for level in levels:
        figure.add_hline(level, line={"dash": "dot", "color": "grey"})
    figure.update_layout(title="Share of customers whose actual holdout value fell inside the prediction interval",
                         yaxis_tickformat=".0%", barmode="group")
    reading = "; ".join(f"{predictor_label(model['predictor'])}'s {level:.0%} intervals held {pct(model[c])} of customers"
                        for _, model in models.iterrows() for level, c in zip(levels[:1], columns[:1]))
    return fig.styled(figure), (reading + f" (should be about {levels[0]:.0%}; well above means the intervals "
                                "are wider than needed, below means too narrow).")


# 5. segments -------------------------------------------------------------------------------------

def segments(ctx: ReportContext) -> Section:
    from clv.segments import DEFAULT_VALUE_CUTS, RISK_TIERS, assign_segments, playbook, value_tier_names

    section = Section("segments", "5. Value and risk segments, and what to do with each",
                      f"Each customer's CLV (as defined at the top: next {ctx.horizon_words}) and chance of still "
                      "being a customer give one action per customer. 'Value at stake' is the CLV of the customers "
                      "on that list.")
    frame = assign_segments(ctx.summary, ctx.scores, ctx.orders, observation_end=ctx.observation_day)
    plan = playbook(frame)
    total = float(ctx.scores["clv"].sum())
    saved = float(plan["expected_value_saved"].sum())
    section.metrics = [
        Metric("customer_equity", f"customer equity (all CLV, next {ctx.horizon_words})", money(total), total),
        Metric("value_saved", "expected value saved if every action is run", money(saved), saved),
        Metric("at_risk_customers", "customers at high churn risk",
               number((frame["risk_tier"] == "high risk").sum()), int((frame["risk_tier"] == "high risk").sum())),
    ]
    section.tables.append(table_from_frame(
        plan, "Playbook: one action per customer",
        {"action": ("action", lambda a: a.replace("_", " ")), "customers": ("customers", number),
         "value_at_stake": ("value at stake", money), "share_of_value": ("share of value", pct),
         "expected_value_saved": ("expected value saved", money), "assumption": ("assumption", None),
         "why": ("why", None)}, key="playbook"))
    tiers = pd.crosstab(frame["value_tier"], frame["risk_tier"])
    tiers = tiers.reindex(index=[t for t in value_tier_names(DEFAULT_VALUE_CUTS) if t in tiers.index],
                          columns=[r for r in RISK_TIERS if r in tiers.columns]).reset_index()
    section.tables.append(TableBlock("Customers by value tier (rows) and churn risk (columns)",
                                     [str(c).replace("_", " ") for c in tiers.columns],
                                     [[str(row[0])] + [number(v) for v in row[1:]] for row in tiers.itertuples(index=False)],
                                     key="tiers"))
    ordered = plan.sort_values("value_at_stake", ascending=False)
    top = ordered.iloc[0]
    section.figures.append(_figure("playbook", fig.bar_figure(
        [a.replace("_", " ") for a in ordered["action"]], ordered["value_at_stake"],
        "Predicted value at stake per action", "predicted CLV of the list"),
        f"The largest list by value is '{top['action'].replace('_', ' ')}': {number(top['customers'])} customers "
        f"carrying {money(top['value_at_stake'])} of CLV over the next {ctx.horizon_words} "
        f"({pct(top['share_of_value'])} of all predicted value)."))
    section.findings.append(
        f"Run as assumed, the playbook would save about {money(saved)} of CLV over the next {ctx.horizon_words} "
        f"({pct(saved / total if total else np.nan)} of customer equity). These savings are assumptions (the 'assumption' column), not measurements: test each "
        "action against a control group before trusting them.")
    return section


# 5b. value curves by segment ----------------------------------------------------------------------

_STEP_WORDS = {"d": "days", "w": "weeks", "m": "months", "q": "quarters", "y": "years"}


def _milestone_words(suffix: str) -> str:
    """'12m' -> 'next 12 months'."""
    return f"next {suffix[:-1]} {_STEP_WORDS.get(suffix[-1], 'periods')}"


def value_curves(ctx: ReportContext) -> Section:
    """The value curve of each value tier: margin per customer month by month, 3/12/36 months and lifetime."""
    from clv.scores import purchase_timing, value_curve
    from clv.segments import DEFAULT_VALUE_CUTS, value_tier_names
    from clv.segments.tiers import value_tiers

    section = Section("curves", "5b. Value over the coming months, by segment",
                      "When will the value come in? Each customer's predicted gross margin month by month "
                      "(discounted as in the CLV at the top), added up from today, for each value tier of "
                      "section 5, with the value over the whole remaining lifetime. One calculation gives "
                      "every month; the 3-, 12- and 36-month figures are read from it.")
    transactions, spend = ctx.models
    curve = value_curve(ctx.summary, transactions, spend, time_unit=ctx.unit, discount_rate=DISCOUNT_RATE,
                        margin=ctx.margin_rate)
    timing = purchase_timing(ctx.summary, transactions, time_unit=ctx.unit, within_days=(90,), alive_in_days=())
    tiers, _ = value_tiers(ctx.scores["clv"].to_numpy())
    order = [t for t in value_tier_names(DEFAULT_VALUE_CUTS) if t in set(tiers)]
    cumulative = pd.DataFrame(curve.cumulative("value")).groupby(tiers).mean().reindex(order)
    steps = f"{curve.step}s"
    section.figures.append(_figure("value_curves", fig.line_figure(
        np.arange(1, curve.periods + 1), {tier: cumulative.loc[tier].to_numpy() for tier in order},
        f"Predicted gross margin per customer, added up {curve.step} by {curve.step} from today",
        f"{steps} from today", "margin per customer (discounted)"),
        _value_curve_reading(cumulative, order, steps, ctx.purchase_model_has_dropout)))
    table = _curve_table(curve, timing, tiers, order)
    formats = {"tier": ("value tier", None), "customers": ("customers", number),
               **{f"value_{m}": (_milestone_words(m), money) for m in curve.milestones},
               "value_lifetime": ("whole remaining lifetime", money),
               "p_purchase_90d": ("chance of a purchase in the next 90 days", pct),
               "share_12m": ("share of all value, next 12 months", pct)}
    section.tables.append(table_from_frame(table, "Predicted gross margin per customer, by value tier", formats,
                                           key="value_curves"))
    section.findings.append(_lifetime_finding(table, curve))
    section.notes.append(
        f"Months are average months ({365.25 / 12:.2f} days); each {curve.step}'s margin is discounted at "
        f"{DISCOUNT_RATE:.0%} a year at its end, as the CLV at the top. The whole remaining lifetime adds up every future month until "
        "the customer is expected to have left; it is a model extrapolation, less certain the further it reaches.")
    return section


def _curve_table(curve, timing, tiers: np.ndarray, order: list[str]) -> pd.DataFrame:
    """Per tier: customers, mean value at each milestone and over the lifetime, mean chance of a purchase soon."""
    columns = [f"value_{m}" for m in curve.milestones] + ["value_lifetime"]
    frame = curve.table[columns].assign(p_purchase_90d=timing["p_purchase_90d"].to_numpy(), tier=tiers)
    table = frame.groupby("tier").mean().reindex(order)
    table.insert(0, "customers", frame.groupby("tier").size().reindex(order))
    if "value_12m" in curve.columns:
        table["share_12m"] = frame.groupby("tier")["value_12m"].sum().reindex(order) / max(frame["value_12m"].sum(), 1e-300)
    return table.reset_index()


def _value_curve_reading(cumulative: pd.DataFrame, order: list[str], steps: str, dropout: bool = True) -> str:
    """One sentence: how fast the top tier's value comes in, against the rest."""
    top, last = order[0], cumulative.columns[-1]
    total = cumulative.loc[top, last]
    half = int(np.argmax(cumulative.loc[top].to_numpy() >= total / 2)) + 1 if total > 0 else None
    text = (f"A customer in the {top} tier is predicted to bring {money(total)} of margin over the next "
            f"{last + 1} {steps}")
    if half is not None:
        text += f", half of it within the first {half} {steps}"
    if len(order) > 1:
        text += f"; a customer in the '{order[-1]}' tier {money(cumulative.loc[order[-1], last])}"
    if not dropout:
        return text + (". The model used finds no churn in these data (NBD), so no customer is expected to leave: the "
                       "curves flatten only through discounting, and the whole-lifetime figure rests on that assumption.")
    return text + ". The curves flatten as customers are expected to leave or buy less often."


def _lifetime_finding(table: pd.DataFrame, curve) -> str:
    top = table.iloc[0]
    text = f"The {top['tier']} customers are each predicted to bring {money(top['value_lifetime'])} over their whole remaining lifetime"
    if "value_12m" in table.columns:
        text += f", {money(top['value_12m'])} of it in the next 12 months"
    if "share_12m" in table.columns:
        text += f"; they are {pct(top['customers'] / table['customers'].sum())} of customers and bring {pct(top['share_12m'])} of the next 12 months' value"
    return text + "."


# 6. channels -------------------------------------------------------------------------------------

def channels(ctx: ReportContext) -> Section:
    from clv.acquisition import acquisition_payback

    section = Section("channels", "6. Acquisition channels: cost, value and payback",
                      "CAC is what it cost to win one customer (spend / new customers). The value here is not the "
                      f"CLV defined at the top: it is the gross margin a customer brings in the first "
                      f"{CLV_OVER_TIME_MONTHS} months after joining (seen so far plus the model's projection), "
                      "so channels are compared over the same time. Payback month: the first month in which that "
                      "margin covers the CAC.")
    if ctx.spend is None:
        section.missing = ("No acquisition spend was given (--spend spend.csv with columns channel, month, spend), "
                           "so CAC, CLV:CAC and payback cannot be computed.")
        return section
    if not ctx.has_values("channel"):
        section.missing = ("The orders have no channel column (--col channel=...), so customers cannot be matched to "
                           "the spend per channel.")
        return section
    transactions, spend_model = ctx.models
    report = acquisition_payback(ctx.orders, ctx.spend, transaction_model=transactions, spend_model=spend_model,
                                 time_unit=ctx.unit, margin=ctx.margin_argument, observation_end=ctx.observation_day,
                                 horizon=convert_duration(CLV_OVER_TIME_MONTHS, "month", ctx.unit))
    table = report.by_channel.sort_values("clv_to_cac", ascending=False)
    formats = {"channel": ("channel", None), "new_customers": ("new customers", number), "spend": ("spend", money),
               "cac": ("CAC", money), "clv": (f"{CLV_OVER_TIME_MONTHS}-month value", money),
               "clv_to_cac": (f"{CLV_OVER_TIME_MONTHS}-month value : CAC", ratio),
               "payback_month": ("payback month", lambda v: number(v)), "payback_status": ("payback", None)}
    if report.next_customer is not None:
        table = table.merge(report.next_customer, on="channel", how="left")
        table["next_customer_range"] = [f"{money(lo)} to {money(hi)}" for lo, hi in
                                         zip(table["next_customer_clv_low"], table["next_customer_clv_high"])]
        formats.update({"next_customer_clv": ("next customer's value", money),
                        "next_customer_range": ("90% range", None),
                        "next_customer_clv_to_cac": ("next customer's value : CAC", ratio)})
        section.notes.append(
            f"The next customer's value is what one more customer acquired through the channel today is expected to "
            f"bring in margin over the same {CLV_OVER_TIME_MONTHS} months, from the models fitted on that channel's "
            "customers alone; the range shows how sure the estimate is (90%), not how much one customer can differ.")
    section.tables.append(table_from_frame(table, "Per acquisition channel", formats, key="channels"))
    section.metrics = [Metric("channels", "channels", number(len(table)), len(table)),
                       Metric("total_spend", "acquisition spend", money(table["spend"].sum()), float(table["spend"].sum()))]
    finite = table[np.isfinite(table["clv_to_cac"].astype(float))]
    if len(finite):
        best, worst = finite.iloc[0], finite.iloc[-1]
        reading = (f"Over their first {CLV_OVER_TIME_MONTHS} months, customers acquired through {best['channel']} are "
                   f"worth {ratio(best['clv_to_cac'])} their acquisition cost")
        if len(finite) > 1:
            reading += (f"; through {worst['channel']} only {ratio(worst['clv_to_cac'])}, paying back in month "
                        f"{number(worst['payback_month'])} ({worst['payback_status']})")
        section.figures.append(_figure("clv_to_cac", fig.bar_figure(
            list(finite["channel"]), finite["clv_to_cac"], "CLV:CAC per channel (dotted line: value = cost)",
            "CLV / CAC", reference=1.0, text=[ratio(v) for v in finite["clv_to_cac"]]), reading + "."))
    return section


# 7. what-if ---------------------------------------------------------------------------------------

WHATIF_CHANGES = (("aov", "average order value"), ("frequency", "purchase frequency"),
                  ("margin", "gross margin"), ("churn", "churn"))


def what_if_grid(ctx: ReportContext) -> Section:
    from clv.scores import customer_lifetime_value
    from clv.whatif import TRADE_OFF_NOTE, ScenarioModel

    section = Section("whatif", "7. What if: each driver 10% better or worse",
                      f"Customer equity is the sum of every customer's CLV (as defined at the top: next "
                      f"{ctx.horizon_words}). Each row changes one driver for everyone from today on and recomputes "
                      "it through the models (the same computation as clv whatif).")
    transactions, spend_model = ctx.models
    summary, scores = ctx.summary, ctx.scores
    x, t_x, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    spend = scores["expected_spend"].to_numpy(float)

    def equity(model, spend_factor=1.0, margin_factor=1.0) -> float:
        clv = customer_lifetime_value(model, None, x, t_x, T, spend * spend_factor, horizon=ctx.horizon,
                                      time_unit=ctx.unit, discount_rate=DISCOUNT_RATE,
                                      margin=min(ctx.margin_rate * margin_factor, 1.0))  # rounding only
        return float(clv.sum())

    before = equity(transactions)
    rows = []
    for driver, words, change in _whatif_changes(ctx.margin_rate, section.notes):
        model = (ScenarioModel(transactions, **{driver: change}) if driver in ("frequency", "churn")
                 else transactions)
        after = equity(model, 1 + change if driver == "aov" else 1.0, 1 + change if driver == "margin" else 1.0)
        rows.append({"driver": words, "change": change, "before": before, "after": after,
                     "gain": after - before, "gain_pct": after / before - 1 if before else np.nan})
    grid = pd.DataFrame(rows)
    words_of = dict(WHATIF_CHANGES)
    section.metrics = [Metric("equity_before", f"customer equity today (next {ctx.horizon_words})", money(before),
                              before)]
    section.tables.append(table_from_frame(
        grid, "Customer equity before and after each change",
        {"driver": ("driver", None), "change": ("change", lambda v: pct(v, 0, signed=True)),
         "before": ("equity before", money), "after": ("equity after", money), "gain": ("difference", money),
         "gain_pct": ("difference %", lambda v: pct(v, signed=True))}, key="whatif"))
    churn = grid["driver"] == words_of["churn"]
    improvements = grid[(churn & (grid["change"] < 0)) | (~churn & (grid["change"] > 0))]
    improvements = improvements.sort_values("gain", ascending=False)
    labels = [f"{d} {pct(c, 0, signed=True)}" for d, c in zip(improvements["driver"], improvements["change"])]
    lever = improvements.iloc[0]
    section.figures.append(_figure("whatif", fig.bar_figure(
        labels, improvements["gain"], "Gain in customer equity from a 10% improvement", "gain in customer equity",
        text=[pct(v, signed=True) for v in improvements["gain_pct"]]),
        f"The biggest lever is {labels[0]}: customer equity over the next {ctx.horizon_words} "
        f"{money(lever['before'])} -> {money(lever['after'])} "
        f"({pct(lever['gain_pct'], signed=True)}). " + _whatif_reading(ctx)))
    section.notes.append(TRADE_OFF_NOTE)
    return section


def _whatif_reading(ctx) -> str:
    """How the drivers move equity: with a model without dropout (the NBD), churn does not enter at all."""
    if ctx.purchase_model_has_dropout:
        return ("Order value and margin move equity one for one; frequency and churn less, because they also change "
                "who stays.")
    return (f"Order value, margin and purchase frequency move equity one for one; churn changes nothing here, because "
            f"{ctx.purchase_model_label} assumes no customer leaves (the data show no detectable churn).")


def _whatif_changes(margin_rate: float, notes: list[str]) -> list[tuple[str, str, float]]:
    """(driver, words, change) of the grid: each driver +-10%, except a margin that cannot rise by 10%.

    A gross margin cannot exceed 100% of revenue: at a margin above 1/1.1 (90.9%) the rise is cut
    to what is left up to 100%, and at 100% (no cost: values are revenue) there is no rise at all;
    the note says so instead of showing a +10% that changes nothing.
    """
    changes = []
    for driver, words in WHATIF_CHANGES:
        for change in (0.10, -0.10):
            if driver == "margin" and change > 0 and margin_rate * (1 + change) > 1:
                room = 1 / margin_rate - 1
                notes.append(f"The gross margin is {pct(margin_rate)}: it cannot rise by 10% (a margin cannot exceed "
                             "100% of revenue), so " + (f"its rise is shown up to 100% ({pct(room, signed=True)})."
                                                       if room > 1e-9 else "only its fall is shown."))
                if room <= 1e-9:
                    continue
                change = room
            changes.append((driver, words, change))
    return changes


# 8. cross-sell --------------------------------------------------------------------------------------

def cross_sell(ctx: ReportContext, top: int = 10) -> Section:
    from clv.crosssell import product_pairs

    section = Section("crosssell", "8. Cross-sell: products bought by the same customers",
                      "Lift says how much more likely a customer who bought one product is to have bought the other, "
                      "compared with customers in general (lift 2 = twice as likely). Pairs bought by at least 1% "
                      "of customers are shown.")
    if not ctx.has_values("product_id"):
        section.missing = "The orders have no product column (--col product_id=...), so there are no product pairs."
        return section
    rules = product_pairs(ctx.orders, basket="customer", min_support=0.01)
    pairs = rules[rules["product_a"].astype(str) < rules["product_b"].astype(str)].head(top).copy()
    if not len(pairs):
        section.missing = "No two products are each bought by at least 1% of customers together: no pairs to show."
        return section
    columns = {"product_a": ("product A", None), "product_b": ("product B", None)}
    names = _product_names(ctx, section)
    if names is not None:  # names in place of ids; the ids stay in the last column
        pairs["ids"] = pairs["product_a"].astype(str) + " + " + pairs["product_b"].astype(str)
        for column in ("product_a", "product_b"):
            ids = pairs[column].astype(str)
            pairs[column] = ids.map(names).fillna(ids)
    section.tables.append(table_from_frame(
        pairs, f"Top {len(pairs)} product pairs by lift",
        {**columns, "baskets_both": ("customers who bought both", number),
         "confidence": ("of A's buyers, share buying B", pct), "lift": ("lift", lambda v: number(v, 2)),
         **({"ids": ("product ids", None)} if names is not None else {})}, key="pairs"))
    best = pairs.iloc[0]
    section.metrics = [Metric("top_lift", "highest lift", number(best["lift"], 2), float(best["lift"]))]
    section.figures.append(_figure("pairs", fig.bar_figure(
        [f"{a} + {b}" for a, b in zip(pairs["product_a"], pairs["product_b"])], pairs["lift"],
        "Lift of the top product pairs (dotted line: no link)", "lift", reference=1.0, horizontal=True),
        f"Customers who buy {best['product_a']} are {number(best['lift'], 1)}x as likely as the average customer to "
        f"also buy {best['product_b']} ({number(best['baskets_both'])} customers bought both): a natural bundle or "
        "follow-up offer."))
    return section


def _product_names(ctx: ReportContext, section: Section) -> pd.Series | None:
    """product id -> its most frequent name in the ``label`` column (None without one, with a note if missing)."""
    from clv.crosssell import product_labels

    if ctx.label is None:
        if not ctx.has_values("product_id"):
            return None
        section.notes.append("Products are shown by their ids; name a column of product names to see names "
                             "(clv report --label Description).")
        return None
    if ctx.label not in ctx.columns:
        section.notes.append(f"The label column {ctx.label!r} is not in the orders (columns: "
                             f"{', '.join(sorted(ctx.columns))}), so products are shown by their ids.")
        return None
    return product_labels(ctx.orders, ctx.label).set_index("product_id")["label"]


MIN_NPS_ANSWERS = 30


# 9. NPS ------------------------------------------------------------------------------------------------

def nps(ctx: ReportContext) -> Section:
    from clv.feedback import nps_by_value, nps_over_time, nps_summary, read_survey

    section = Section("nps", "9. Net Promoter Score next to customer value",
                      "NPS = % promoters (answers 9-10) - % detractors (0-6). Below: NPS over time, and each "
                      "group's predicted value and chance of still being a customer (latest answer per customer).")
    if ctx.survey is None:
        section.missing = ("No survey was given (--survey survey.csv with columns customer_id, date, score 0-10), "
                           "so there is no NPS section.")
        return section
    answers = read_survey(ctx.survey)
    counts = answers.counts()
    overall = nps_summary(answers)
    section.metrics = [
        Metric("nps", "NPS", number(overall["nps"], 0), overall["nps"]),
        Metric("answers", "valid answers", number(overall["answers"]), overall["answers"]),
        Metric("survey_rows", "survey lines", number(counts["input_rows"]), counts["input_rows"]),
        Metric("survey_rejected", "survey lines set aside", number(sum(counts["rejected"].values())),
               sum(counts["rejected"].values())),
    ]
    months = pd.Timestamp(ctx.observation_day).to_period("M").ordinal
    freq = "month" if overall["answers"] >= 100 * max(months - _first_month(answers), 1) else "quarter"
    series = nps_over_time(answers, time_unit=freq)
    thin = series["answers"] < MIN_NPS_ANSWERS
    if thin.any():
        section.notes.append(f"{int(thin.sum())} {freq}s with fewer than {MIN_NPS_ANSWERS} answers are left out of "
                             "the NPS chart (too few answers for a stable score); they count in the overall NPS.")
    series = series[~thin]
    if len(series):
        section.figures.append(_figure("nps_over_time", fig.line_figure(
            series["period"].astype(str), {"NPS": series["nps"]}, f"NPS per {freq}", freq, "NPS"),
            f"NPS was {number(series['nps'].iloc[0])} in {series['period'].iloc[0]:%Y-%m} and "
            f"{number(series['nps'].iloc[-1])} in {series['period'].iloc[-1]:%Y-%m} (the {freq} starting then); "
            f"over all answers it is {number(overall['nps'])}."))
    by_group = nps_by_value(answers, ctx.scores)
    section.tables.append(table_from_frame(
        by_group, f"CLV (as defined at the top: next {ctx.horizon_words}) and churn risk by NPS group",
        {"nps_group": ("group", None), "customers": ("customers", number), "share": ("share", pct),
         "mean_clv": ("average CLV", money), "mean_p_alive": ("chance still a customer", pct),
         "without_scores": ("answered but not in the orders", number)}, key="nps_value"))
    groups = by_group[by_group["nps_group"] != "all"]
    section.figures.append(_figure("nps_value", fig.bar_figure(
        list(groups["nps_group"]), groups["mean_clv"], "Average predicted CLV by NPS group", "average CLV"),
        _nps_reading(groups, ctx.horizon_words)))
    return section


def _first_month(answers) -> int:
    first = answers.answers.answered_at.min().execute()
    return pd.Timestamp(first).to_period("M").ordinal


def _nps_reading(groups: pd.DataFrame, horizon: str) -> str:
    by = groups.set_index("nps_group")
    promoter, detractor = by.loc["promoter"], by.loc["detractor"]
    text = (f"Over the next {horizon}, promoters are predicted to be worth {money(promoter['mean_clv'])} each, detractors "
            f"{money(detractor['mean_clv'])}")
    if detractor["mean_clv"] and np.isfinite(detractor["mean_clv"]):
        text += f" ({ratio(promoter['mean_clv'] / detractor['mean_clv'])})"
    text += (f"; their average chance of still being a customer: promoters {pct(promoter['mean_p_alive'])}, "
             f"detractors {pct(detractor['mean_p_alive'])}")
    if detractor["mean_p_alive"] > promoter["mean_p_alive"]:
        text += (" (higher for detractors because BG/NBD counts customers who bought only once as still active, "
                 "and rare buyers answer lower: judge the groups by CLV)")
    return text + "."


SECTIONS = (  # key, title if it fails, progress step, function
    ("data", "1. Data check", "checking every line", data_check),
    ("refunds", "1b. Large refunds", "large refunds", large_refunds),
    ("kpis", "2. Key numbers and drivers", "key numbers and drivers", kpis),
    ("cohorts", "3. Cohorts", "cohorts and CLV over time", cohorts),
    ("models", "4. Model fit and backtest", "fitting models and backtesting", model_fit),
    ("segments", "5. Segments and playbook", "segments and playbook", segments),
    ("curves", "5b. Value over the coming months", "value curves by segment", value_curves),
    ("channels", "6. Acquisition channels", "channel payback", channels),
    ("whatif", "7. What if", "what-if grid", what_if_grid),
    ("crosssell", "8. Cross-sell", "cross-sell pairs", cross_sell),
    ("nps", "9. Net Promoter Score", "NPS", nps),
)
