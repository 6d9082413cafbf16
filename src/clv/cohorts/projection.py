"""Project the cells forward with a fitted transaction model and a spend model.

For every customer acquired by the last complete month, with history
``(x, t_x, T)`` measured at the end of that month in the model's time unit,
the expected purchases in future calendar month j (j = 1, 2, ...) are

    E[Y(j m)] - E[Y((j-1) m)],     m = one month (365.25/12 days) in model units,

``E[Y(t) | x, t_x, T]`` being the model's conditional expectation (BG/NBD:
Fader, Hardie & Lee 2005, eq. 10). Expected revenue = purchases x expected
spend per order (Gamma-Gamma conditional mean, Fader, Hardie & Lee 2005
"RFM and CLV" eq. 5; without a spend model the customer's observed average
order value), expected margin = revenue x margin rate. Future month j of a
customer of cohort c is month k = age + j since acquisition.

The model is evaluated once per distinct ``(x, T)`` history (clv.scores) and
summed into cells with a sparse matrix product: no per-customer loop.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
from scipy import sparse

from clv.data.orders_table import as_orders_table
from clv.data.schema import CHANNEL, CUSTOMER_ID
from clv.engine import execute
from clv.errors import DataError
from clv.scores.lifetime_value import expectation_grid, forecast_rows
from clv.summary import summary_expression
from clv.units import days_per_unit

from .cells import COHORT, Cells, acquisitions, month_end

__all__ = ["Projection", "customer_histories", "expected_spend", "fit_default_models", "project"]


@dataclass
class Projection:
    """Expected future values per cell: arrays (cells, J) for months j = 1..J after the last complete month."""

    purchases: np.ndarray
    revenue: np.ndarray
    margin: np.ndarray
    time_unit: str


def customer_histories(orders: object, cells: Cells, time_unit: str) -> pd.DataFrame:
    """Per-customer frequency, recency, T, monetary value at the end of the last complete month, with channel and cohort."""
    table = as_orders_table(orders, string_ids=True)
    end = month_end(cells.end_month).date()
    summary = summary_expression(table, observation_end=end, time_unit=time_unit)
    acquired = acquisitions(table)
    acquired = acquired.filter(acquired[COHORT] <= cells.end_month).rename(_acq_id=CUSTOMER_ID)
    joined = summary.join(acquired, summary[CUSTOMER_ID] == acquired._acq_id)
    return execute(
        joined.select(
            CUSTOMER_ID, CHANNEL, COHORT, "frequency", "recency", "T", "monetary_value",
            average_order=ibis.ifelse(joined.n_orders > 0, joined.revenue / joined.n_orders.cast("float64"), 0.0),
        )
    )


def fit_default_models(histories: pd.DataFrame):
    """BG/NBD (through the model ladder) and Gamma-Gamma fitted on the histories (Gamma-Gamma on repeat buyers
    with positive spend).

    The purchase model comes from :func:`clv.models.ladder.fit_purchase_model`: the BG/NBD, or the NBD without
    dropout when the data show no churn (its ``model_choice_`` says which and why).

    Parameters
    ----------
    histories : pandas.DataFrame
        Per-customer ``frequency``, ``recency``, ``T`` and ``monetary_value``
        (:func:`customer_histories`).

    Returns
    -------
    tuple
        The fitted purchase model (:class:`clv.models.bgnbd.BetaGeoModel` or :class:`clv.models.nbd.NBDModel`) and
        :class:`clv.models.gammagamma.GammaGammaModel` (from the registry, :func:`clv.models.model_class`).
    """
    from clv.models import model_class
    from clv.models.ladder import fit_purchase_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        transactions = fit_purchase_model(tuple(histories[c] for c in ("frequency", "recency", "T")), "bgnbd")
        usable = (histories["frequency"] > 0) & (histories["monetary_value"] > 0)
        spend = model_class("gammagamma")().fit(histories.loc[usable, "frequency"], histories.loc[usable, "monetary_value"])
    return transactions, spend


def expected_spend(histories: pd.DataFrame, spend_model) -> np.ndarray:
    """Expected value of one future order per customer: Gamma-Gamma mean, or the observed average order.

    The Gamma-Gamma conditional mean (Fader, Hardie & Lee 2005, "RFM and CLV",
    eq. 5) at the customer's repeat frequency and mean repeat spend; without a
    spend model the observed ``average_order``, floored at 0.

    Parameters
    ----------
    histories : pandas.DataFrame
        ``frequency``, ``monetary_value`` and ``average_order`` per customer.
    spend_model : fitted spend model or None
        Anything with ``expected_spend(frequency, monetary_value)``.

    Returns
    -------
    numpy.ndarray
        Expected spend per future order, one per customer (float).
    """
    if spend_model is None:
        return np.clip(histories["average_order"].to_numpy(float), 0.0, None)
    x = histories["frequency"].to_numpy(float)
    m = np.where(x > 0, histories["monetary_value"].to_numpy(float), 0.0)
    return np.asarray(spend_model.expected_spend(x, np.clip(m, 0.0, None)), dtype=float)


def project(
    orders: object,
    cells: Cells,
    transaction_model,
    spend_model,
    *,
    time_unit: str,
    months: int,
    histories: pd.DataFrame | None = None,
) -> Projection:
    """Expected purchases, revenue and margin per cell for each of the next ``months`` months.

    ``time_unit`` must be the unit the transaction model was fitted in
    (:func:`clv.models.check_model_unit`): the histories are summarised in it.
    """
    from clv.models import check_model_unit

    check_model_unit(transaction_model, time_unit)
    if months < 1:
        raise DataError(f"months={months!r}: the projection needs at least one month. Fix: e.g. horizon=36, "
                        "time_unit='month'.")
    if histories is None:
        histories = customer_histories(orders, cells, time_unit)
    x, t_x, T = (histories[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    spend = expected_spend(histories, spend_model)
    cell_of = _cell_codes(cells, histories)

    month_units = days_per_unit("month") / days_per_unit(time_unit)
    times = month_units * np.arange(1, months + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rows = forecast_rows(transaction_model, x, t_x, T)

        def expectation(t: np.ndarray, take: np.ndarray) -> np.ndarray:
            return np.asarray(
                transaction_model.expected_purchases(t, rows.frequency[take], rows.recency[take], rows.T[take]), dtype=float
            )

        path = expectation_grid(expectation, np.arange(rows.frequency.shape[0]), times)
    increments = np.clip(np.diff(path, axis=1, prepend=0.0), 0.0, None)
    shape = (len(cells.cells), rows.frequency.shape[0])
    to_cells = sparse.csr_matrix((rows.scale, (cell_of, rows.index)), shape=shape)
    to_cells_spend = sparse.csr_matrix((rows.scale * spend, (cell_of, rows.index)), shape=shape)
    purchases = np.asarray(to_cells @ increments)
    revenue = np.asarray(to_cells_spend @ increments)
    return Projection(purchases, revenue, revenue * cells.margin_rule.rate, time_unit)


def _cell_codes(cells: Cells, histories: pd.DataFrame) -> np.ndarray:
    index = pd.MultiIndex.from_frame(cells.cells[[CHANNEL, COHORT]])
    keys = pd.MultiIndex.from_arrays(
        [histories[CHANNEL].astype(str).to_numpy(), histories[COHORT].astype("int64").to_numpy()]
    )
    codes = index.get_indexer(keys)
    if (codes < 0).any():
        raise DataError("internal: a customer's (channel, cohort) is not among the cells; please report this.")
    return codes.astype(np.intp)
