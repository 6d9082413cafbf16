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
