"""The demo workspace of ``clv serve --demo``: the synthetic store (:mod:`clv.data.synthetic`) with its settings."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_END", "make_demo_workspace"]

DEMO_END = "2025-12-31"

DEMO_SETTINGS = """\
# The demo workspace of `clv serve --demo`: a synthetic store with known truth (clv.data.synthetic).
time_unit = "week"
horizon = 52
discount_rate = 0.10

[columns]
order_id = "order_id"
product_id = "product_id"
quantity = "quantity"
channel = "channel"
cost = "cost"

[source]
orders = "store/orders.parquet"
customers = "customers.csv"
spend = "spend.csv"
observation_end = "{end}"

[service]
store = "runs.duckdb"
schedule = "0 6 * * 1"
backtest = {backtest}
report = {report}
title = "Demo store"
"""


def make_demo_workspace(folder: str | Path, *, customers: int = 5000, seed: int = 42, backtest: bool = True,
                        report: bool = True, end: str = DEMO_END) -> Path:
    """Write the synthetic store, its customers (with example.com emails), spend and settings to ``folder``.

    Parameters
    ----------
    folder : str or Path
        The workspace folder (created).
    customers : int, default 5000
        Simulated customers.
    seed : int, default 42
        Seed of the store.
    backtest, report : bool, default True
        Whether each run computes the backtest scorecard and the HTML report.
    end : str, default DEMO_END
        The observation end of the runs (the store always ends on DEMO_END; an earlier end
        makes a run as of that day).

    Returns
    -------
    Path
        The workspace folder.
    """
    import pandas as pd

    from clv.data.synthetic import generate_store

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    store = generate_store(root / "store", n_customers=customers, seed=seed, defects=False, end=DEMO_END)
    people = store.customers_frame()[["customer_id"]].astype(str)
    people["email"] = "customer" + people["customer_id"] + "@example.com"
    people.to_csv(root / "customers.csv", index=False)
    spend = store.acquisition_spend_frame()
    pd.DataFrame(spend).to_csv(root / "spend.csv", index=False)
    (root / "clv-service.toml").write_text(
        DEMO_SETTINGS.format(end=end, backtest=_toml(backtest), report=_toml(report)), encoding="utf-8")
    return root


def _toml(flag: bool) -> str:
    return "true" if flag else "false"
