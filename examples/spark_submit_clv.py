"""Run a clv command on a Spark cluster with spark-submit (Databricks, EMR, YARN, standalone, local).

spark-submit starts the driver with the cluster's master and settings; this
script runs the ``clv`` command line inside that driver, so ``--engine spark``
picks up the session spark-submit made (``getOrCreate``) and the orders table is
read, checked and summarised on the executors. Only per-customer rows (or
fewer) come back to the driver.

Usage::

    spark-submit [spark options] spark_submit_clv.py [--view NAME=PATH.parquet ...] -- CLV COMMAND ...

``--view NAME=PATH`` registers a Parquet file or folder as the temporary view
NAME before the command runs (for a cluster without a metastore table, or to
try it locally); on Databricks or with a Hive/Glue catalogue, name the table
directly: ``--table sales.orders``.

Examples::

    # locally, on 2 cores, a Parquet file as the view "orders"
    spark-submit --master 'local[2]' examples/spark_submit_clv.py --view orders=orders.parquet -- \\
        summarize --engine spark --table orders --col customer_id=Client --col timestamp=When \\
        --col amount=Total -o summary.parquet

    # EMR (YARN), clv shipped to the executors as a wheel
    spark-submit --master yarn --deploy-mode client --py-files clv-0.1.0-py3-none-any.whl \\
        spark_submit_clv.py -- load --engine spark --table sales.orders --rejects /home/hadoop/rejects.csv

See docs/engines.md for Databricks jobs, shipping clv to the executors and what crosses to Python.
"""

from __future__ import annotations

import sys


def split_arguments(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """``[--view NAME=PATH ...] -- clv arguments`` -> ({name: path}, clv arguments)."""
    if "--" not in argv:
        return {}, argv
    ours, clv_arguments = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    views = {}
    for flag, value in zip(ours[::2], ours[1::2]):
        name, sep, path = value.partition("=")
        if flag != "--view" or not sep or not name or not path:
            raise SystemExit(f"error: {flag} {value!r}: give --view NAME=PATH.parquet before --")
        views[name] = path
    if len(ours) % 2:
        raise SystemExit(f"error: {ours[-1]!r} has no value; give --view NAME=PATH.parquet before --")
    return views, clv_arguments


def main(argv: list[str]) -> None:
    views, clv_arguments = split_arguments(argv)
    if views:
        from clv.engine.spark import spark_session

        session = spark_session()  # the session spark-submit configured (master, confs)
        for name, path in views.items():
            session.read.parquet(path).createOrReplaceTempView(name)
    from clv.cli.main import app

    app(clv_arguments, prog_name="clv")


if __name__ == "__main__":
    main(sys.argv[1:])
