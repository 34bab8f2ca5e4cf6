"""Browser plumbing of the end-to-end scenario: Chromium, one context per actor, zh_CN text."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel.support import Translations
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Request,
    expect,
    sync_playwright,
)

from caseapp.accounts.demo import demo_password

CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 30_000  # how long an element or a page may take to appear (real KDF on a busy host)
expect.set_options(timeout=WAIT_MS)
REPO = Path(__file__).resolve().parents[2]
POLL_TIMEOUT = 90.0  # seconds a job effect may take to show up (rq worker in production)


@lru_cache(maxsize=1)
def _catalogue() -> Translations:
    """The compiled zh_CN catalogue the app serves by default."""
    found = Translations.load(str(REPO / "caseapp" / "translations"), ["zh_Hans_CN"])
    if not isinstance(found, Translations):
        raise RuntimeError("no compiled zh_Hans_CN catalogue: run `make translations`")
    return found


def zh(msgid: str, **params: Any) -> str:
    """The Chinese text the UI shows for `msgid`; fails when it has no translation."""
    text = _catalogue().gettext(msgid)
    if text == msgid:
        raise AssertionError(f"no zh_CN translation for {msgid!r}")
    return text % params if params else text


def origin(url: str) -> str:
    """scheme://host:port of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, without background traffic; never downloads a browser."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


def follow(target: Locator) -> None:
    """Click a link or submit button and wait for the page it leads to."""
    with target.page.expect_navigation():
        target.click()


class Shots:
    """Numbered full-page screenshots: out_dir/NN-step.png."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.paths: list[Path] = []
        out_dir.mkdir(parents=True, exist_ok=True)

    def take(self, page: Page, step: str) -> Path:
        """Save a screenshot of the whole page for this step."""
        path = self.out_dir / f"{len(self.paths) + 1:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        self.paths.append(path)
        return path


class Actor:
    """One person with their own browser context (cookies, storage) and one tab."""

    def __init__(self, browser: Browser, base_url: str, shots: Shots, name: str, *,
                 javascript: bool = True) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.shots = shots
        self.requests: list[str] = []
        self.context: BrowserContext = browser.new_context(
            java_script_enabled=javascript, locale="zh-CN", viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(WAIT_MS)
        self.context.on("request", self._record)
        self.page: Page = self.context.new_page()

    def _record(self, request: Request) -> None:
        self.requests.append(request.url)

    def goto(self, path: str) -> Page:
        """Open a path of the site (as typing it or following a bookmark)."""
        resp = self.page.goto(self.base_url + path)
        status = resp.status if resp is not None else None
        assert status is not None and status < 400, f"{self.name}: {path} -> {status}"
        return self.page

    def shot(self, step: str) -> Path:
        """Screenshot this actor's page."""
        return self.shots.take(self.page, f"{step}")

    def nav(self, label: str) -> Page:
        """Follow a link of the staff menu."""
        follow(self.page.get_by_role("navigation").get_by_role("link", name=label, exact=True))
        return self.page

    def login(self, username: str) -> Page:
        """Log in on the staff login page with the demo password."""
        page = self.goto("/staff/login")
        page.get_by_label(zh("User name")).fill(username)
        page.get_by_label(zh("Password")).fill(demo_password(username))
        follow(page.get_by_role("button", name=zh("Log in")))
        expect(page.get_by_role("link", name=username, exact=True)).to_have_count(1)
        return page

    def close(self) -> None:
        """Close the context."""
        self.context.close()


def poll(page: Page, ready: Callable[[], bool], what: str,
         timeout: float = POLL_TIMEOUT) -> None:
    """Reload `page` until `ready()` holds (a job's effect shows), or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} on {page.url}")
        page.wait_for_timeout(delay * 1000)
        delay = min(delay * 1.5, 2.0)
        page.reload()
