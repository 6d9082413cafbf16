"""A seedable synthetic NPS survey for a synthetic store (the demo and the report tests).

Each surveyed customer answers the question "How likely are you to recommend us?"
(0-10) once or a few times between their first purchase and the end of the
observation window. The answer follows the customer's *true* purchase rate from
the store's truth (``customers.parquet``: ``lambda``, repeat purchases per day):

    latent_i = mean + slope * z_i + noise,   z_i = standardised log(lambda_i),
    noise ~ Normal(0, noise_sd),   score = clip(round(latent_i), 0, 10)

so customers who buy more often tend to be promoters and rare buyers detractors,
while the noise keeps the link realistic (a fifth of a point of slope per
standard deviation is already visible in NPS by value). Answers given after the
customer's true drop-out time (``dropout_at``) are ``churn_penalty`` points lower
(the reason they left tends to show up in the survey). All draws come from
``numpy.random.default_rng(seed)``; the same arguments give the same answers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clv.errors import DataError

SURVEY_COLUMNS = ("customer_id", "date", "score")


def simulate_survey(
    customers: pd.DataFrame,
    *,
    end: object,
    seed: int = 0,
    response_rate: float = 0.3,
    max_answers: int = 3,
    mean: float = 8.0,
    slope: float = 1.5,
    noise_sd: float = 1.5,
    churn_penalty: float = 1.5,
) -> pd.DataFrame:
    """Survey answers (customer_id, date, score 0-10) for the store's ``customers`` truth frame.

    ``customers`` needs customer_id, acquired_at, lambda and dropout_at (the
    columns of :meth:`clv.data.synthetic.SyntheticStore.customers_frame`).
    ``response_rate``: share of customers who answer at least once; each
    respondent answers 1..``max_answers`` times (uniform), on days uniform
    between their first purchase and ``end`` (the last observed day, inclusive).
    Rows are sorted by date.
    """
    for column in ("customer_id", "acquired_at", "lambda", "dropout_at"):
        if column not in customers.columns:
            raise DataError(f"customers has no column {column!r}; fix: pass SyntheticStore.customers_frame().")
    if not 0 < response_rate <= 1:
        raise DataError(f"response_rate must be in (0, 1], got {response_rate!r}.")
    if int(max_answers) < 1:
        raise DataError(f"max_answers must be at least 1, got {max_answers!r}.")
    rng = np.random.default_rng(seed)
    respondents = customers[rng.random(len(customers)) < response_rate]
    repeats = rng.integers(1, int(max_answers) + 1, size=len(respondents))
    rows = np.repeat(np.arange(len(respondents)), repeats)

    log_rate = np.log(respondents["lambda"].to_numpy(float))
    z = (log_rate - log_rate.mean()) / (log_rate.std() or 1.0)
    start = _epoch_seconds(respondents["acquired_at"])[rows]
    stop = int(pd.Timestamp(end).normalize().timestamp()) + 86_399
    seconds = start + rng.random(len(rows)) * np.maximum(stop - start, 0)
    dropout = _epoch_seconds(respondents["dropout_at"])[rows]  # NaN: no drop-out in sight
    gone = np.nan_to_num(dropout, nan=np.inf) <= seconds
    latent = mean + slope * z[rows] - churn_penalty * gone + rng.normal(0.0, noise_sd, size=len(rows))
    frame = pd.DataFrame({
        "customer_id": respondents["customer_id"].to_numpy()[rows],
        "date": pd.to_datetime(seconds.astype(np.int64), unit="s").normalize(),
        "score": np.clip(np.rint(latent), 0, 10).astype(np.int64),
    })
    return frame.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)


def _epoch_seconds(values: pd.Series) -> np.ndarray:
    """Timestamps as float epoch seconds (NaN for missing)."""
    stamps = pd.to_datetime(values)
    seconds = (stamps - pd.Timestamp("1970-01-01")).dt.total_seconds()
    return seconds.to_numpy(float, na_value=np.nan)


def store_survey(store, *, seed: int = 0, **options) -> pd.DataFrame:
    """:func:`simulate_survey` for a :class:`clv.data.synthetic.SyntheticStore` (its truth and window end)."""
    # truth.json's observation_end is exclusive (the day after the last observed day)
    last_day = pd.Timestamp(store.truth["observation_end"]) - pd.Timedelta(days=1)
    end = options.pop("end", last_day)
    return simulate_survey(store.customers_frame(), end=end, seed=seed, **options)
