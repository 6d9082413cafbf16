"""The report in a real browser: headless Chromium draws every chart and the screenshot is not blank.

Skipped only where Chromium is not installed (.ci/run installs Debian's ``chromium``).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from clv.data import Columns, load_orders
from clv.data.survey import store_survey
from clv.data.synthetic import generate_store
from clv.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

END = "2025-12-31"


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def decode_png(data: bytes) -> np.ndarray:
    """8-bit RGB/RGBA PNG (non-interlaced) -> array (height, width, channels), with the five PNG row filters."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, f"unsupported PNG layout {header}"
    channels = 3 if color == 2 else 4
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8).reshape(height, stride + 1)
    image = np.zeros((height, stride), np.uint8)
    previous = np.zeros(stride, np.uint8)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:]
        if kind == 0:
            row = line.copy()
        elif kind == 1:  # Sub: running sum per channel
            row = np.cumsum(line.reshape(width, channels), axis=0, dtype=np.uint64).astype(np.uint8).ravel()
        elif kind == 2:  # Up
            row = line + previous
        else:  # Average / Paeth depend on the byte to the left: done byte by byte
            row = _sequential_filter(kind, line, previous, channels)
        image[y] = row
        previous = row
    return image.reshape(height, width, channels)


def _sequential_filter(kind: int, line: np.ndarray, previous: np.ndarray, channels: int) -> np.ndarray:
    out = bytearray(len(line))
    up = previous.tolist()
    for x, value in enumerate(line.tolist()):
        left = out[x - channels] if x >= channels else 0
        if kind == 3:
            out[x] = (value + (left + up[x]) // 2) & 255
        else:
            corner = up[x - channels] if x >= channels else 0
            estimate = left + up[x] - corner
            pa, pb, pc = abs(estimate - left), abs(estimate - up[x]), abs(estimate - corner)
            predictor = left if pa <= pb and pa <= pc else up[x] if pb <= pc else corner
            out[x] = (value + predictor) & 255
    return np.frombuffer(bytes(out), np.uint8)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    store = generate_store(root / "store", n_customers=800, seed=11, defects=True, end=END)
    result = load_orders(str(store.orders_path), Columns(order_id="order_id", product_id="product_id",
                                                         channel="channel", cost="cost"), observation_end=END)
    return build_report(result, spend=store.acquisition_spend_frame(), survey=store_survey(store, seed=2),
                        observation_end=END, path=root / "report.html", strict=True)


def test_screenshot_is_not_blank(report, tmp_path):
    shot = tmp_path / "report.png"
    outcome = chromium(f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri(), profile=tmp_path / "profile")
    assert shot.exists(), f"chromium wrote no screenshot: {outcome.stderr[-2000:]}"
    pixels = decode_png(shot.read_bytes())[..., :3].astype(np.int16)
    assert pixels.shape[:2] == (2000, 1280)
    non_white = (pixels < 235).any(axis=2)
    colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 60  # the header, chart lines and bars, not grey text
    assert non_white.mean() > 0.05, f"only {non_white.mean():.1%} of the page is not white"
    assert colourful.mean() > 0.02, f"only {colourful.mean():.1%} of the page is in colour"
    assert pixels.std() > 20
    # the bottom half holds charts too, not just the header
    assert non_white[1000:].mean() > 0.03


def test_every_chart_is_drawn(report, tmp_path):
    outcome = chromium("--dump-dom", "--virtual-time-budget=10000", report.as_uri(), profile=tmp_path / "profile")
    dom = outcome.stdout
    assert "</html>" in dom, outcome.stderr[-2000:]
    figures = report.read_text(encoding="utf-8").count("data-figure=")
    assert figures >= 12
    assert dom.count('class="plot-container plotly"') == figures  # Plotly.newPlot ran for every chart
    assert dom.count('class="main-svg"') >= figures
