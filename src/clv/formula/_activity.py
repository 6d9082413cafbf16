"""Per-customer joins and period-to-period activity shared by the KPIs and the drivers."""

from __future__ import annotations

import ibis
import pandas as pd
from ibis.expr.types import Table

from clv.data.schema import CUSTOMER_ID, ORDER_TS
from clv.engine import execute

from .customer_segments import ALL_CUSTOMERS, SEGMENT
from .periods import PERIOD, is_purchase, period_index


def attach(per_customer: Table, mapping: Table | None, column: str, default: object) -> Table:
    """Left-join one per-customer column; customers not in ``mapping`` get ``default``."""
    if mapping is None:
        return per_customer.mutate(**{column: ibis.literal(default)})
    mapping = mapping.rename(_attach_id=CUSTOMER_ID)
    joined = per_customer.left_join(mapping, per_customer[CUSTOMER_ID] == mapping._attach_id)
    value = joined[column] if default is None else joined[column].fill_null(default)
    return joined.drop("_attach_id").mutate(**{column: value})


def activity_pairs(lines: Table, segments: Table | None, period: str) -> pd.DataFrame:
    """Per (segment, period): customers active (bought) and how many bought again the next period."""
    purchases = lines.filter(is_purchase(lines))
    active = purchases.select(CUSTOMER_ID, **{PERIOD: period_index(purchases[ORDER_TS], period)})
    active = active.distinct()
    later = active.select(
        _later_id=active[CUSTOMER_ID], _later_period=active[PERIOD] - 1, _back=ibis.literal(1)
    )
    flagged = active.left_join(
        later,
        [active[CUSTOMER_ID] == later._later_id, active[PERIOD] == later._later_period],
    )
    flagged = flagged.select(CUSTOMER_ID, PERIOD, "_back")
    flagged = attach(flagged, segments, SEGMENT, ALL_CUSTOMERS)
    counts = flagged.group_by([SEGMENT, PERIOD]).aggregate(
        active=flagged.count(), retained=flagged._back.count()
    )
    frame = execute(counts)
    frame[SEGMENT] = frame[SEGMENT].astype(str)
    return frame.astype({PERIOD: "int64", "active": "int64", "retained": "int64"})
