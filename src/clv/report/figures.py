"""Plotly figures of the report, and their HTML without plotly.js (embedded once by the page)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PALETTE = ("#1f5f8b", "#e07b39", "#3a9a5b", "#b23a48", "#7a5195", "#8c8c8c", "#c9a227", "#2f9fa3")
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}


def styled(figure, height: int = 380):
    figure.update_layout(template="plotly_white", height=height, margin={"l": 60, "r": 20, "t": 50, "b": 50},
                         font={"family": "Helvetica, Arial, sans-serif", "size": 13}, colorway=list(PALETTE),
                         legend={"orientation": "h", "y": -0.2})
    return figure


def figure_html(figure, div_id: str) -> str:
    """The chart's <div> and its drawing script; plotly.js itself is in the page head, once."""
    return figure.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                          config=PLOT_CONFIG, div_id=div_id)


def plotly_js() -> str:
    """The plotly.js bundle shipped with the plotly package (no network)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def drivers_figure(drivers: pd.DataFrame):
    """The four drivers per period, one small panel each."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = (("aov", "Average order value"), ("purchase_frequency", "Orders per active customer"),
              ("margin", "Gross margin rate"), ("churn", "Churn (share of last period's buyers not back)"))
    figure = make_subplots(rows=2, cols=2, subplot_titles=[title for _, title in panels], vertical_spacing=0.16)
    for i, (column, title) in enumerate(panels):
        figure.add_trace(go.Scatter(x=drivers["period"], y=drivers[column], name=title, mode="lines+markers",
                                    line={"color": PALETTE[i]}, showlegend=False), row=i // 2 + 1, col=i % 2 + 1)
    figure.update_yaxes(tickformat=".1%", row=2, col=1)
    figure.update_yaxes(tickformat=".0%", row=2, col=2)
    return styled(figure, height=520)


def line_figure(x, series: dict[str, Any], title: str, x_title: str, y_title: str, dashed: tuple[str, ...] = ()):
    import plotly.graph_objects as go

    figure = go.Figure()
    for name, values in series.items():
        figure.add_trace(go.Scatter(x=x, y=values, name=name, mode="lines",
                                    line={"dash": "dash" if name in dashed else "solid"}))
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title)
    return styled(figure)


def bar_figure(labels, values, title: str, y_title: str, *, reference: float | None = None,
               text: list[str] | None = None, horizontal: bool = False):
    import plotly.graph_objects as go

    bar = (go.Bar(y=labels, x=values, orientation="h", text=text, marker_color=PALETTE[0]) if horizontal
           else go.Bar(x=labels, y=values, text=text, marker_color=PALETTE[0]))
    figure = go.Figure(bar)
    if reference is not None:
        (figure.add_vline if horizontal else figure.add_hline)(reference, line={"dash": "dot", "color": PALETTE[3]})
    axis = {"xaxis_title": y_title} if horizontal else {"yaxis_title": y_title}
    figure.update_layout(title=title, **axis)
    if horizontal:
        figure.update_yaxes(autorange="reversed")
    return styled(figure, height=max(320, 40 * len(labels) + 120) if horizontal else 380)


def retention_heatmap(wide: pd.DataFrame):
    """Cohort x months-since-acquisition retention (month 0 left out: it is 100% by definition)."""
    import plotly.graph_objects as go

    months = [c for c in wide.columns if c.startswith("m") and c[1:].isdigit() and c != "m0"]
    z = wide[months].to_numpy(float)
    figure = go.Figure(go.Heatmap(
        z=z, x=[int(m[1:]) for m in months], y=cohort_labels(wide["cohort"]), colorscale="Blues",
        zmin=0, zmax=float(np.nanmax(z)) if np.isfinite(z).any() else 1, colorbar={"tickformat": ".0%"},
        hovertemplate="cohort %{y}, month %{x}: %{z:.1%}<extra></extra>",
    ))
    figure.update_layout(title="Share of each month's new customers who buy again N months later",
                         xaxis_title="months since first purchase", yaxis_title="month of first purchase")
    # categories, not dates: a date axis reads '1997-01' as a day and labels it 'Dec 22 1996' or '23:59:59.9996'
    figure.update_yaxes(type="category", autorange="reversed")
    figure.update_xaxes(type="linear", tickmode="linear", dtick=max(1, len(months) // 12), tickformat="d")
    return styled(figure, height=max(420, 14 * len(wide) + 140))


def cohort_labels(cohorts: pd.Series) -> list[str]:
    """Monthly cohorts as month names: '1997-01' -> 'Jan 1997' (anything else unchanged)."""
    months = pd.to_datetime(cohorts.astype(str), format="%Y-%m", errors="coerce")
    return [f"{m:%b %Y}" if pd.notna(m) else str(c) for c, m in zip(cohorts, months)]
