"""One way to say where the data is: an engine name, a DuckDB file or a connection URL -> an Ibis connection.

:func:`connect_engine` is what ``--engine`` on the command line goes through,
and what a Python user can call to get the same connection:

* ``None`` or ``"duckdb"``: clv's in-process DuckDB (:func:`clv.engine.default_connection`);
* a DuckDB file: ``"shop.duckdb"`` (``.duckdb``, ``.ddb``, ``.db``, or any
  existing file with DuckDB's header) or ``"duckdb://shop.duckdb"``;
* ``"spark"`` (or ``"pyspark"``): a Spark session through Ibis' PySpark
  backend, made by :func:`clv.engine.spark.spark_session`; its master comes from
  ``spark_master``, else the ``CLV_SPARK_MASTER`` environment variable, else
  what ``spark-submit`` or the cluster set (``local[*]`` when run by hand);
* any Ibis connection URL: ``postgres://user@host:5432/shop``,
  ``postgresql://...``, ``snowflake://user:password@account/database/schema``,
  ``bigquery://project/dataset``... opened with :func:`ibis.connect` (the
  backend's extra must be installed, e.g. ``pip install 'ibis-framework[snowflake]'``).

Python functions take any Ibis connection directly (``load_orders(..., con=con)``);
this module only turns a piece of text into one. Errors name the argument
(``engine=``), never show a password, and say how to fix them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ibis.backends import BaseBackend

from clv.errors import ClvError

__all__ = ["SPARK_MASTER_ENV", "connect_engine", "engine_label", "is_duckdb_file"]

SPARK_MASTER_ENV = "CLV_SPARK_MASTER"
"""Environment variable read for the Spark master URL when ``spark_master`` is not given."""

_DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")
_SPARK_NAMES = ("spark", "pyspark")
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_EXTRAS = {"postgres": "postgres", "postgresql": "postgres", "snowflake": "snowflake", "bigquery": "bigquery",
           "mysql": "mysql", "mssql": "mssql", "trino": "trino", "clickhouse": "clickhouse", "oracle": "oracle",
           "databricks": "databricks", "athena": "athena", "risingwave": "risingwave", "impala": "impala",
           "druid": "druid", "exasol": "exasol", "flink": "flink"}
"""URL scheme -> the ``ibis-framework[...]`` extra that installs its backend."""


def connect_engine(
    engine: str | os.PathLike | BaseBackend | None = None,
    *,
    spark_master: str | None = None,
    spark_conf: Mapping[str, Any] | None = None,
) -> BaseBackend:
    """The Ibis connection that ``engine`` names.

    Parameters
    ----------
    engine : str, path-like, ibis BaseBackend or None
        ``None``/``"duckdb"`` (clv's in-process DuckDB), a DuckDB file path or
        ``"duckdb://file.duckdb"``, ``"spark"``, or an Ibis connection URL
        (``"postgres://user@host/db"``, ``"snowflake://..."``, ``"bigquery://..."``).
        A connection is returned as it is.
    spark_master : str or None
        Spark only: the master URL (``"local[4]"``, ``"spark://host:7077"``,
        ``"yarn"``); default ``$CLV_SPARK_MASTER``, else the one ``spark-submit`` set.
    spark_conf : mapping or None
        Spark only: extra settings (``{"spark.executor.memory": "8g"}``), on top
        of :data:`clv.engine.spark.DEFAULT_CONF`.

    Returns
    -------
    ibis.backends.BaseBackend

    Raises
    ------
    clv.errors.ClvError
        An engine clv does not know, a DuckDB file that does not exist, a backend
        that is not installed, or a server that refused the connection; the
        message names ``engine=`` and the fix (a password in the URL is masked).
    """
    if isinstance(engine, BaseBackend):
        return engine
    text = None if engine is None else os.fspath(engine).strip()
    spark_options = spark_master is not None or bool(spark_conf)
    if text is not None and text.lower() in _SPARK_NAMES:
        return _spark(spark_master, spark_conf)
    if spark_options:
        raise ClvError(f"spark_master= and spark_conf= configure Spark, but engine={engine_label(text)!r} is not "
                       "Spark; fix: pass engine='spark', or leave them out.")
    if text is None or text.lower() in ("duckdb", "duckdb://", "duckdb://:memory:"):
        from clv.engine import default_connection

        return default_connection()
    scheme = _URL.match(text)
    if scheme is not None and scheme["scheme"].lower() == "duckdb":
        return _duckdb_file(text[len("duckdb://"):], text)
    if scheme is not None and scheme["scheme"].lower() == "spark":
        raise ClvError(f"engine={text!r} is a Spark master URL; fix: pass engine='spark' with "
                       f"spark_master={text!r}.")
    if scheme is not None:
        return _url(text, scheme["scheme"].lower())
    if text.lower().endswith(_DUCKDB_SUFFIXES) or is_duckdb_file(text):
        return _duckdb_file(text, text)
    raise ClvError(
        f"engine={text!r} is not an engine clv knows; fix: give 'duckdb', a DuckDB file (shop.duckdb or "
        "duckdb://shop.duckdb), 'spark', or a connection URL such as postgres://user@host:5432/shop "
        "(snowflake://..., bigquery://... and any other Ibis backend's URL work the same)."
    )


def engine_label(engine: Any) -> str:
    """``engine`` as text for messages, with any password in a URL masked (``postgres://clv:***@host/db``)."""
    if engine is None:
        return "duckdb"
    if isinstance(engine, BaseBackend):
        return engine.name
    text = os.fspath(engine)
    if "://" not in text:
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def is_duckdb_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a DuckDB database file (its header holds 'DUCK' at byte 8)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(12)[8:12] == b"DUCK"
    except OSError:
        return False


def _duckdb_file(path: str, given: str) -> BaseBackend:
    from clv.engine import connect

    if not Path(path).is_file():
        state = "is a folder, not a DuckDB file" if Path(path).is_dir() else "does not exist"
        raise ClvError(f"engine={given!r}: the DuckDB file {path!r} {state}; fix: check the path (clv does not "
                       "create an empty database).")
    if not is_duckdb_file(path):
        raise ClvError(f"engine={given!r}: {path!r} is not a DuckDB database file; fix: give a file made by DuckDB, "
                       "or read a CSV or Parquet file as the input instead.")
    try:
        return connect(path)
    except Exception as exc:  # noqa: BLE001 - a lock held by another process, a newer file format...
        raise ClvError(f"engine={given!r} could not be opened: {_first_line(exc)}; fix: close other programs "
                       "using the file, or upgrade duckdb if the file was written by a newer version.") from exc


def _spark(master: str | None, conf: Mapping[str, Any] | None) -> BaseBackend:
    import ibis

    from clv.engine.spark import spark_session

    master = master or os.environ.get(SPARK_MASTER_ENV) or None
    try:
        session = spark_session(master, conf=conf)
    except ImportError as exc:
        raise ClvError("engine='spark' needs PySpark; fix: pip install 'clv[spark]' (PySpark and Java 17 or "
                       "later).") from exc
    except Exception as exc:  # noqa: BLE001 - no Java, a master that cannot be reached, a bad setting
        where = f" on master {master!r}" if master else ""
        raise ClvError(f"engine='spark' could not start a Spark session{where}: {_first_line(exc)}; fix: check "
                       f"spark_master= (or ${SPARK_MASTER_ENV}), the spark_conf= settings, and that Java 17 or "
                       "later is installed.") from exc
    return ibis.pyspark.connect(session)


def _url(url: str, scheme: str) -> BaseBackend:
    import ibis

    shown = engine_label(url)
    try:
        return ibis.connect(url)
    except ImportError as exc:
        extra = _EXTRAS.get(scheme, scheme)
        raise ClvError(f"engine={shown!r} needs Ibis' {scheme} backend, which is not installed; fix: "
                       f"pip install 'ibis-framework[{extra}]'.") from exc
    except ValueError as exc:
        if "Don't know how to connect" not in str(exc):
            raise ClvError(f"engine={shown!r} could not connect: {_masked(exc, url)}; fix: check the URL.") from exc
        raise ClvError(f"engine={shown!r}: no Ibis backend reads {scheme}:// URLs; fix: use a URL of an Ibis "
                       "backend (postgres://, snowflake://, bigquery://, mysql://, ...), 'spark', or a DuckDB "
                       "file.") from exc
    except Exception as exc:  # noqa: BLE001 - the driver's own errors (refused, unknown database, bad password)
        raise ClvError(f"engine={shown!r} could not connect: {_masked(exc, url)}; fix: check the host, port, "
                       "user, password and database in the URL, and that the server is running and reachable."
                       ) from exc


def _masked(exc: BaseException, url: str) -> str:
    """The error's first line, with the URL's password (if any) masked."""
    line = _first_line(exc)
    password = urlsplit(url).password
    return line.replace(password, "***") if password else line


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__).rstrip(".")
