"""Check that ``report.html`` renders: a headless Chromium screenshot plus the page's own count of decoded plots."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from taskdistil.errors import ArtifactError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
EXPECTED_PLOTS = 2
WINDOW = (1280, 2400)


def find_chromium(chromium: str | None = None) -> str:
    for name in ([chromium] if chromium else BROWSERS):
        found = shutil.which(name)
        if found:
            return found
    wanted = chromium or " / ".join(BROWSERS)
    raise ArtifactError(f"no headless browser found ({wanted} not on PATH); on Debian/Ubuntu: apt-get install chromium")


def _run(browser: str, args: list[str], timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="taskdistil-chromium-") as profile:
        cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--hide-scrollbars", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
               "--mute-audio", f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", *args]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise ArtifactError(f"{browser} did not finish within {timeout:g} s: {' '.join(args)}") from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ArtifactError(f"{browser} exited with {done.returncode}: {tail}")
    return done.stdout


def nonwhite_fraction(png_path: Path, threshold: int = 245) -> float:
    """Fraction of pixels with any channel darker than ``threshold``."""
    with Image.open(png_path) as image:
        pixels = np.asarray(image.convert("RGB"))
    return float((pixels < threshold).any(axis=-1).mean())


def screenshot_report(html_path: Path, png_path: Path, chromium: str | None = None, timeout: float = 60) -> dict:
    """Screenshot ``html_path`` to ``png_path`` and read back ``<body data-plots>`` from the loaded DOM."""
    browser = find_chromium(chromium)
    html_path, png_path = Path(html_path).resolve(), Path(png_path).resolve()
    if not html_path.is_file():
        raise ArtifactError(f"{html_path}: no such HTML report")
    png_path.parent.mkdir(parents=True, exist_ok=True)
    png_path.unlink(missing_ok=True)
    url = html_path.as_uri()
    _run(browser, [f"--screenshot={png_path}", url], timeout)
    if not png_path.is_file():
        raise ArtifactError(f"{browser} wrote no screenshot at {png_path}")
    dom = _run(browser, ["--dump-dom", url], timeout)
    match = re.search(r"<body[^>]*\bdata-plots=\"(\d+)\"", dom)
    plots = int(match.group(1)) if match else 0
    with Image.open(png_path) as image:
        width, height = image.size
    fraction = nonwhite_fraction(png_path)
    return {"png": str(png_path), "width": width, "height": height, "plots_decoded": plots,
            "expected_plots": EXPECTED_PLOTS, "nonwhite_fraction": round(fraction, 4),
            "ok": plots == EXPECTED_PLOTS and fraction > 0.02}
