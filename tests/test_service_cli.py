"""``clv serve`` on the command line: --demo starts a live server with one run and a working admin token;
tokens are created, listed and revoked; a refresh from the terminal."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from clv.cli.main import app
from service_workspace import built_workspace

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_tokens_create_list_revoke():
    root = str(built_workspace().root)
    runner = CliRunner()
    made = runner.invoke(app, ["serve", "token", "create", "--role", "viewer", "--name", "cli test", "-w", root])
    assert made.exit_code == 0, made.output
    token = made.output.strip()
    assert re.fullmatch(r"clv_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    listed = runner.invoke(app, ["serve", "token", "list", "-w", root]).output
    token_id = token[4:16]
    assert token_id in listed and "cli test" in listed and token[17:] not in listed
    assert runner.invoke(app, ["serve", "token", "revoke", token_id, "-w", root]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["serve", "token", "list", "-w", root]).output
    again = runner.invoke(app, ["serve", "token", "revoke", token_id, "-w", root])
    assert again.exit_code == 2 and "no active token" in again.output
    bad = runner.invoke(app, ["serve", "token", "create", "--role", "root", "-w", root])
    assert bad.exit_code == 2 and "viewer, analyst, admin" in bad.output


def test_serve_demo_starts_with_a_run_and_a_token(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-c", "from clv.cli.main import app; app()", "serve", "--demo", "--customers", "300",
               "--dir", str(tmp_path / "demo"), "--port", str(port), "--no-schedule"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PYTHONPATH": SRC})
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True).start()
    try:
        token = _wait_for(lambda: next((m.group(0) for line in lines
                                        for m in [re.search(r"clv_[0-9a-f]{12}_\S{43}", line)] if m), None), 240)
        assert token, "".join(lines)
        base = f"http://127.0.0.1:{port}"
        assert _wait_for(lambda: _health(base), 60) == {"status": "ok", "has_run": True}
        headers = {"Authorization": f"Bearer {token}"}
        kpis = httpx.get(base + "/api/kpis", headers=headers).json()["points"]
        assert len(kpis) == 1 and kpis[0]["customers"] > 0
        assert httpx.get(base + "/api/kpis").status_code == 401
        from clv.service.runs import STAGES

        shown = [line for line in lines if re.search(r"\d+%", line)]
        assert shown and all(any(stage in line for stage in (*STAGES, "starting")) for line in shown), lines
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _health(base: str):
    try:
        return httpx.get(base + "/api/health", timeout=2).json()
    except httpx.HTTPError:
        return None


def _wait_for(probe, seconds: float):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    return None
