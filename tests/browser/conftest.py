"""A real hub for the browser: `mash-hub demo`, then `mash-hub serve` (gunicorn) on a free
port, driven by Playwright in Debian's Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TEST_ENV

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


@dataclass
class LiveHub:
    url: str
    credentials: dict


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_hub(clean_database: str, tmp_path: Path) -> Iterator[LiveHub]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MASH_")},
        **TEST_ENV,
        "MASH_APP__MODE": "development",
        "MASH_DATABASE__URL": clean_database,
        "MASH_APP__INSTANCE_PATH": str(tmp_path / "instance"),
        "MASH_LOGGING__LEVEL": "INFO",
    }
    demo = subprocess.run(
        [sys.executable, "-m", "mash_hub", "demo", "--no-cases"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mash_hub", "serve", "--port", str(port), "--workers", "2"],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/sign-in", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "server.log").read_text()) from None
                time.sleep(0.2)
        credentials = json.loads((tmp_path / "instance" / "demo-credentials.json").read_text())
        yield LiveHub(url, credentials)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "server.log", ARTIFACTS / "server.log")


@pytest.fixture
def browser_page(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        if os.environ.get("MASH_REQUIRE_BROWSER"):
            pytest.fail("Debian's chromium is not installed (make browser installs it)")
        pytest.skip("Debian's chromium is not installed (make browser installs it)")
    if shutil.which("chromium") is None:
        pytest.skip("chromium not on PATH")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final.png"), full_page=True)
        context.close()
        browser.close()
