"""A real hub for the browser: `mash-hub demo`, then `mash-hub serve` (gunicorn) on a free
port, driven by Playwright in Debian's Chromium."""

from __future__ import annotations

import contextlib
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
    env: dict  # the served hub's environment, for running its commands beside it
    workdir: Path


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
        yield LiveHub(url, credentials, env, tmp_path)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "server.log", ARTIFACTS / "server.log")


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.2 AA, every level up to it.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
# Runs in every page the tests open, once it has loaded and the GOV.UK components have
# started, and reports through the console (scripts injected by the browser's own
# protocol are outside the page's Content-Security-Policy; the page's are not loosened).
AXE_RUN = """
(() => {
  if (window.top !== window) return;
  window.addEventListener("load", () => setTimeout(() => {
    axe.run(document, {runOnly: {type: "tag", values: %s}, resultTypes: ["violations"]})
      .then((result) => console.log("MASH-AXE " + JSON.stringify({
        url: location.pathname,
        violations: result.violations.map((v) => ({
          id: v.id, impact: v.impact, help: v.help,
          nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
        })),
      })))
      .catch((error) => console.log("MASH-AXE-ERROR " + error))
      .finally(() => { window.__mashAxeDone = true; });
  }, 50));
})();
"""


@dataclass
class AxeFindings:
    """What axe-core found on each page a test's browser loaded."""

    checked: list[str]
    violations: list[dict]

    def listen(self, message: object) -> None:
        text = message.text  # type: ignore[attr-defined]
        if text.startswith("MASH-AXE-ERROR"):
            self.violations.append({"url": "?", "id": "axe-error", "help": text})
        elif text.startswith("MASH-AXE "):
            found = json.loads(text[len("MASH-AXE ") :])
            self.checked.append(found["url"])
            self.violations.extend({"url": found["url"], **v} for v in found["violations"])


def check_accessibility(context: object, findings: AxeFindings) -> None:
    """axe-core on every page `context` loads (the browser tests' own contexts too)."""
    context.add_init_script(path=str(AXE))  # type: ignore[attr-defined]
    context.add_init_script(script=AXE_RUN % json.dumps(AXE_TAGS))  # type: ignore[attr-defined]
    context.on("console", findings.listen)  # type: ignore[attr-defined]


@pytest.fixture
def axe_findings() -> AxeFindings:
    return AxeFindings([], [])


@pytest.fixture
def browser_page(request: pytest.FixtureRequest, axe_findings: AxeFindings):  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        if os.environ.get("MASH_REQUIRE_BROWSER"):
            pytest.fail("Debian's chromium is not installed (make browser installs it)")
        pytest.skip("Debian's chromium is not installed (make browser installs it)")
    if shutil.which("chromium") is None:
        pytest.skip("chromium not on PATH")
    assert AXE.exists(), "axe-core is missing: make setup installs it (npm ci)"
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        check_accessibility(context, axe_findings)
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final.png"), full_page=True)
        # The last page's check, which nothing navigated away from; a page that never
        # loaded has nothing to check.
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function("window.__mashAxeDone === true", timeout=10_000)
        context.close()
        browser.close()
    (ARTIFACTS / f"{request.node.name}-axe.json").write_text(
        json.dumps(
            {"checked": axe_findings.checked, "violations": axe_findings.violations}, indent=1
        )
    )
    assert axe_findings.checked, "axe-core checked no page"
    assert not axe_findings.violations, "accessibility (WCAG 2.2 AA) violations:\n" + "\n".join(
        f"{v['url']}: {v['id']} ({v.get('impact')}): {v['help']} {v.get('nodes', '')}"
        for v in axe_findings.violations
    )
