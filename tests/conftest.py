"""Shared fixtures: the small real data sets copied into tests/data."""

import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings

# CI runs the property tests on a fixed set of examples (derandomized), so a run
# is reproducible; locally they draw new examples each time to keep finding cases.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def cdnow_lines() -> pd.DataFrame:
    """CDNOW 1/10 sample order lines in the canonical column names (6,919 lines)."""
    raw = pd.read_csv(
        DATA / "CDNOW_sample.txt", sep=r"\s+", header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"], dtype={"customer_id": str},
    )
    raw["order_ts"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    return raw[["customer_id", "order_ts", "amount"]]


@pytest.fixture(scope="session")
def cdnow_summary_reference() -> pd.DataFrame:
    """The published CDNOW calibration summary (weeks, calibration end 1997-09-30)."""
    return pd.read_csv(DATA / "cdnow_customers_summary.csv")


ONLINE_RETAIL_SPLITS = ("2011-06-30", "2011-09-08", None)  # the README's two calibration ends, and the full period


@pytest.fixture(scope="session")
def online_retail_orders():
    """UCI Online Retail (tests/data copy, README mapping) as canonical order lines (pandas), refund lines included."""
    from clv import Columns, load_orders

    path = DATA / "online_retail.csv.gz"
    if not path.exists():
        pytest.skip("tests/data/online_retail.csv.gz is missing")
    columns = Columns(customer_id="CustomerID", timestamp="InvoiceDate", quantity="Quantity",
                      unit_price="UnitPrice", order_id="InvoiceNo")
    return load_orders(path, columns).orders.to_pandas()


def _online_retail_summaries(orders):
    from clv import summarize
    from clv.summary.customers import calibration_holdout

    summaries = {}
    for keep_zero in (True, False):
        lines = orders if keep_zero else orders[orders["amount"] != 0]
        for end in ONLINE_RETAIL_SPLITS:
            summaries[end, keep_zero] = (summarize(lines, time_unit="week") if end is None else
                                         calibration_holdout(lines, calibration_end=end, time_unit="week"))
    return summaries


@pytest.fixture(scope="session")
def online_retail_summaries(online_retail_orders):
    """UCI Online Retail (tests/data copy, README mapping) in weeks: {(calibration end or None, zero-price lines
    kept): CustomerData}, at both README calibration ends and on the full period, with and without the 40
    zero-price lines. Refunds are netted against the purchases they cancel (docs/summary.md)."""
    return _online_retail_summaries(online_retail_orders)


@pytest.fixture(scope="session")
def online_retail_gross_summaries(online_retail_orders):
    """The same without the refund lines: the input lifetimes is given (and clv's summary before refunds were
    netted; frequency, recency and T are those of the gross summary)."""
    return _online_retail_summaries(online_retail_orders[~online_retail_orders["is_refund"]])
