"""The service tests' shared workspace: a small synthetic store refreshed twice (built once per test process).

Run 1 sees the orders up to 2025-06-30 (no backtest, no report: fast); run 2 sees
them up to 2025-12-31 with the backtest scorecard and the report, so that the
history, the movers and every endpoint have something real to show.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

CUSTOMERS = 600
FIRST_END = "2025-06-30"


@dataclass
class Built:
    root: Path
    run_ids: tuple[str, str]
    tokens: dict[str, str]


def set_setting(root: Path, old: str, new: str) -> None:
    path = root / "clv-service.toml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


@functools.cache
def built_workspace() -> Built:
    from clv.service.demo import DEMO_END, make_demo_workspace
    from clv.service.runs import refresh
    from clv.service.security import create_token
    from clv.service.server import open_workspace_store

    root = Path(tempfile.mkdtemp(prefix="clv-service-test-"))
    make_demo_workspace(root, customers=CUSTOMERS, seed=7, backtest=False, report=False, end=FIRST_END)
    with (root / "clv-service.toml").open("a") as out:
        out.write('rate_limit = "100000/minute"\n')
    workspace, store = open_workspace_store(root)
    first = refresh(workspace, store, trigger="test")
    store.close()
    set_setting(root, f'observation_end = "{FIRST_END}"', f'observation_end = "{DEMO_END}"')
    set_setting(root, "backtest = false", "backtest = true")
    set_setting(root, "report = false", "report = true")
    workspace, store = open_workspace_store(root)
    second = refresh(workspace, store, trigger="test")
    tokens = {role: create_token(store, role, f"test {role}") for role in ("viewer", "analyst", "admin")}
    store.close()
    return Built(root, (first, second), tokens)
