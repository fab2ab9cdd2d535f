"""Headless Chromium for the screenshot tests: a screenshot, the console, and where elements land.

The system ``chromium`` (Debian package) runs as a subprocess with a throw-away profile, every
background service off and a dead proxy, so it can reach nothing: the pages are local files and
must not need anything else. Console messages come from ``--enable-logging=stderr``; positions from
a measuring script added to a copy of the page (allowed by its hash in the page's own CSP) whose
result ``--dump-dom`` prints.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

TIMEOUT = 90
_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--disable-domain-reliability", "--proxy-server=http://127.0.0.1:9",
    "--enable-logging=stderr", "--v=0",
)
_CONSOLE = re.compile(r":CONSOLE(?:\(\d+\)|:\d+)\] (.*)")


def chromium_binary() -> str:
    """The system Chromium; a failure in CI (``HEALCREW_REQUIRE_DOCKER=1`` means real components), else a skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("HEALCREW_REQUIRE_DOCKER") == "1":
            pytest.fail("chromium is required in CI (scripts/bootstrap.sh installs it) but is not on PATH")
        pytest.skip("chromium is not installed")
    return found


def _run(
    binary: str, profile: Path, page: Path, *args: str, width: int, height: int,
) -> subprocess.CompletedProcess[str]:
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [binary, *_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=TIMEOUT, check=False, env={**os.environ, "HOME": str(profile)},
    )


def console_messages(stderr: str) -> list[str]:
    """The page's console messages (errors, CSP violations, failed loads) in Chromium's log."""
    return [m.group(1) for m in _CONSOLE.finditer(stderr)]


def screenshot(binary: str, page: Path, png: Path, *, width: int = 1280, height: int = 800) -> list[str]:
    """Save the first screen of ``page`` as ``png``; the console messages it logged."""
    proc = _run(binary, png.parent / ".chromium-profile", page, f"--screenshot={png}", width=width, height=height)
    assert png.is_file(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return console_messages(proc.stderr)


def positions(binary: str, page: Path, selectors: dict[str, str], *, width: int = 1280,
              height: int = 800) -> dict[str, float | None]:
    """The top (px from the top of the page) of the first element each CSS selector matches, as laid out."""
    script = ("(function(){var s=" + json.dumps(selectors) + ",o={};for(var k in s){var e=document.querySelector(s[k]);"
              "o[k]=e?e.getBoundingClientRect().top+window.scrollY:null;}"
              "document.documentElement.setAttribute('data-positions',JSON.stringify(o));})();")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    text = page.read_text(encoding="utf-8")
    text = text.replace("default-src 'none';", f"default-src 'none'; script-src 'sha256-{digest}';", 1)
    measured = page.with_name(page.stem + ".measure.html")
    measured.write_text(text.replace("</body>", f"<script>{script}</script></body>", 1), encoding="utf-8")
    proc = _run(binary, page.parent / ".chromium-profile", measured, "--dump-dom", width=width, height=height)
    m = re.search(r'data-positions="([^"]*)"', proc.stdout)
    assert m, f"the measuring script did not run: {console_messages(proc.stderr)} {proc.stderr[-1000:]}"
    return json.loads(html.unescape(m.group(1)))  # type: ignore[no-any-return]


def png_size(png: Path) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
