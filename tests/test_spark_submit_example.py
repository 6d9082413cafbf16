"""examples/spark_submit_clv.py: the arguments before ``--`` are its own, the rest are clv's."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "examples" / "spark_submit_clv.py"


def _example():
    spec = importlib.util.spec_from_file_location("spark_submit_clv", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_views_before_the_separator_and_clv_arguments_after():
    views, arguments = _example().split_arguments(
        ["--view", "orders=/data/orders.parquet", "--view", "refunds=r.parquet", "--", "load", "--table", "orders"])
    assert views == {"orders": "/data/orders.parquet", "refunds": "r.parquet"}
    assert arguments == ["load", "--table", "orders"]


def test_without_a_separator_everything_is_clvs():
    assert _example().split_arguments(["summarize", "--engine", "spark"]) == ({}, ["summarize", "--engine", "spark"])


@pytest.mark.parametrize("ours", [["--view", "orders"], ["--viewx", "a=b"], ["--view"]])
def test_a_bad_view_stops_with_the_form(ours):
    with pytest.raises(SystemExit, match="--view NAME=PATH.parquet"):
        _example().split_arguments([*ours, "--", "load"])
