"""A Spark session for clv: local mode for a laptop, or a cluster by its master URL.

``clv`` reaches Spark through Ibis' PySpark backend. A session made here has
the settings clv's results depend on (UTC session time zone, so timestamps are
read the same on every engine); anything else is the user's (``conf``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["spark_session", "DEFAULT_CONF"]

#: Settings every clv session gets (the caller's ``conf`` overrides them).
DEFAULT_CONF: Mapping[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",  # no stage progress bars over the CLI's tables
}


def spark_session(master: str | None = None, *, app_name: str = "clv", conf: Mapping[str, Any] | None = None):
    """Get or create a Spark session.

    Parameters
    ----------
    master : str or None
        ``"local[2]"``, ``"spark://host:7077"``, ``"yarn"``...; None keeps what
        ``spark-submit`` or the cluster set (Databricks, EMR).
    app_name : str, default "clv"
        The application name shown by the cluster.
    conf : mapping or None
        Extra Spark settings, e.g. ``{"spark.executor.memory": "8g"}``.

    Returns
    -------
    pyspark.sql.SparkSession
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("Spark needs PySpark; fix: pip install 'clv[spark]'") from exc
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    _use_this_python(master)
    for key, value in {**DEFAULT_CONF, **dict(conf or {})}.items():
        builder = builder.config(key, str(value))
    return builder.getOrCreate()


def _use_this_python(master: str | None) -> None:
    """In local mode, Python workers run this interpreter (where clv and pyarrow are installed).

    PySpark starts its workers with ``$PYSPARK_PYTHON``, else ``python3`` from
    the PATH, which may lack them (``mapInArrow`` then fails with "No module
    named 'pyarrow'"); in local mode it is set to this interpreter when unset.
    A driver started by ``spark-submit`` (it sets ``PYSPARK_GATEWAY_PORT``) with
    no master given here runs on the master ``spark-submit`` chose, and the
    executors' Python is the cluster's (``PYSPARK_PYTHON`` or
    ``spark.pyspark.python``): nothing is changed then.
    """
    import os
    import sys

    master = master or os.environ.get("CLV_SPARK_MASTER")
    local = master.startswith("local") if master else "PYSPARK_GATEWAY_PORT" not in os.environ
    if local:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
