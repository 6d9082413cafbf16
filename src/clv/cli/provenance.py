"""Where a cleaned order file came from: ``clv load --orders X.parquet`` records its load report in X.

The record is a JSON text under the key :data:`LOAD_REPORT_KEY` of the Parquet
file's key-value metadata: the original file, when it was loaded, with which
``clv`` version, and the original's line counts (input, accepted, netted,
rejected by reason). When ``clv load`` or ``clv report`` later reads that
Parquet file, they state the original reconciliation next to their own (the
cleaned file's lines are all accepted, which alone would hide what was set
aside). Cleaning a cleaned file again keeps the first origin.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from clv import __version__

LOAD_REPORT_KEY = "clv.load_report"


def load_metadata(source: Path | str, report: Any) -> dict[str, str]:
    """The Parquet metadata recording that ``source`` was loaded with ``report`` (a LoadReport).

    ``source``: the order file, or a text naming a table (``orders on postgres://...``).
    """
    earlier = read_provenance(source) if isinstance(source, Path) else None
    record = earlier if earlier is not None else {
        "source": str(source),
        "loaded_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "clv_version": __version__,
        "report": report.as_dict(),
    }
    return {LOAD_REPORT_KEY: json.dumps(record)}


def read_provenance(path: Path | None) -> dict[str, Any] | None:
    """The load record of a Parquet file written by ``clv load --orders`` (None for any other file or a table)."""
    if path is None or path.suffix.lower() != ".parquet" or not path.is_file():
        return None
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
        record = json.loads(metadata[LOAD_REPORT_KEY.encode()])
    except (KeyError, OSError, ValueError, TypeError):
        return None  # not written by clv load, or not a readable Parquet file (the loader says why)
    return record if isinstance(record, dict) and isinstance(record.get("report"), dict) else None


def provenance_sentence(record: dict[str, Any]) -> str:
    """'this file was cleaned by clv load from X on DATE: N input lines, A accepted, ... rejected (reasons)'."""
    report = record["report"]
    rejected = {reason: int(n) for reason, n in (report.get("rejected") or {}).items() if n}
    reasons = "; ".join(f"{reason.replace('_', ' ')} {n:,}" for reason, n in rejected.items())
    day = str(record.get("loaded_at", ""))[:10] or "an unknown date"
    return (f"this file was cleaned by clv load from {record.get('source', 'an unknown file')} on {day}: "
            f"{int(report.get('input_rows', 0)):,} input lines, {int(report.get('accepted_purchase_lines', 0)):,} "
            f"accepted purchase lines, {int(report.get('netted_refund_lines', 0)):,} netted refund lines, "
            f"{sum(rejected.values()):,} rejected" + (f" ({reasons})." if reasons else "."))
