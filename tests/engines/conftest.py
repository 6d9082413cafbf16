"""Connections to the engines clv runs on beyond DuckDB: PySpark (local mode) and PostgreSQL.

Every test here is marked ``engines`` and left out of the default run
(``pytest`` alone); CI runs them in a step of their own (``pytest -m engines``)
after starting a PostgreSQL server (``.ci/postgres start``).

- PySpark: a ``local[2]`` session started once per test run (Java 17).
- PostgreSQL: the server named by ``CLV_TEST_POSTGRES_URL``
  (``postgres://clv@127.0.0.1:54329/clv_test`` from ``.ci/postgres start``).

A missing engine skips its tests with the reason, except with
``CLV_REQUIRE_ENGINES=1`` (set by CI), where it fails them: CI must not pass by
skipping.
"""

from __future__ import annotations

import os

import pytest

ENGINES = ("duckdb", "pyspark", "postgres")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/engines/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.engines)


def _unavailable(reason: str):
    if os.environ.get("CLV_REQUIRE_ENGINES") == "1":
        pytest.fail(f"{reason} (CLV_REQUIRE_ENGINES=1: CI needs every engine)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark_session():
    """A PySpark ``local[2]`` session, UTC, small shuffles, no UI."""
    try:
        from clv.engine.spark import spark_session as make
    except ImportError as exc:
        _unavailable(f"PySpark is not installed ({exc}); fix: pip install -e '.[spark]'")
    session = make(master="local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_con(spark_session):
    """An Ibis connection on the PySpark session."""
    import ibis

    return ibis.pyspark.connect(spark_session)


@pytest.fixture(scope="session")
def postgres_con():
    """An Ibis connection to the PostgreSQL server of ``CLV_TEST_POSTGRES_URL``."""
    url = os.environ.get("CLV_TEST_POSTGRES_URL")
    if not url:
        _unavailable("no PostgreSQL server: set CLV_TEST_POSTGRES_URL (`.ci/postgres start` prints one)")
    import ibis

    try:
        return ibis.connect(url)
    except Exception as exc:  # noqa: BLE001 - any driver or server error means: no server
        _unavailable(f"cannot connect to {url}: {exc}")


@pytest.fixture(scope="session")
def duckdb_con():
    from clv.engine import connect

    return connect()


@pytest.fixture(params=ENGINES)
def engine_con(request):
    """Each engine in turn: DuckDB, PySpark, PostgreSQL."""
    return request.getfixturevalue({"duckdb": "duckdb_con", "pyspark": "spark_con",
                                    "postgres": "postgres_con"}[request.param])
