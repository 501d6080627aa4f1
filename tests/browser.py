"""Open a page in a real headless Chromium: its DOM, what it wrote to the console, a screenshot.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages
ending in a NUL byte, commands on the child's fd 3, answers on its fd 4), with the standard library
only. Everything the page reports is collected: `console.*` calls, uncaught exceptions and the
browser's own log (a resource that failed to load, a blocked request, a CSP violation). The network
is blocked (`--host-resolver-rules`: every host name fails to resolve), so a page that tries to load
anything from the internet shows a console error instead of fetching it.

Imported by tests as a plain module, as tests/images/image_helpers.py is.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-pipe",
]
TIMEOUT = 30.0  # seconds for one page: start, load, screenshot
SETTLE = 0.3  # seconds to keep listening after the load event (late errors, failed images)


@dataclass
class Rendered:
    """A page as Chromium showed it: the DOM after loading and every console message."""

    dom: str
    console: list[str] = field(default_factory=list)


def chromium() -> str | None:
    """The Chromium executable, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """The Chromium executable; skips the test when it is absent, except where
    PREPKIT_REQUIRE_BROWSER=1 (CI), where its absence fails the test."""
    found = chromium()
    if found:
        return found
    message = "Chromium is not installed (apt-get install chromium); the browser tests run in CI"
    if os.environ.get("PREPKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " (PREPKIT_REQUIRE_BROWSER=1)")
    pytest.skip(message)


def render(
    path: str | Path, screenshot: str | Path | None = None, width: int = 1280, height: int = 900
) -> Rendered:
    """Load the file `path` in headless Chromium; return its DOM and console messages, and write
    a PNG of the top `width` x `height` pixels to `screenshot` when given."""
    url = Path(path).resolve().as_uri()
    with (
        tempfile.TemporaryDirectory(prefix="prepkit-chromium-") as profile,
        _Browser(require_chromium(), profile) as browser,
    ):
        return browser.render(url, screenshot, width, height)


class _Browser:
    """One Chromium process and its DevTools pipe."""

    def __init__(self, executable: str, profile: str) -> None:
        self.executable, self.profile = executable, profile
        self.next_id = 0
        self.buffer = b""
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> _Browser:
        to_child, self.commands = os.pipe()  # we write commands, Chromium reads fd 3
        self.answers, from_child = os.pipe()  # Chromium writes fd 4, we read

        def wire() -> None:  # runs in the child before exec: the pipe ends become fds 3 and 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child, from_child)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)
            for fd in high:
                os.close(fd)

        self.process = subprocess.Popen(
            [self.executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,  # our other fds are not inheritable; 3 and 4 must stay open
            preexec_fn=wire,
        )
        os.close(to_child)
        os.close(from_child)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.send("Browser.close")
        except (OSError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.commands)
        os.close(self.answers)

    def render(self, url: str, screenshot: str | Path | None, width: int, height: int) -> Rendered:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.call(f"{domain}.enable", session=session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=session,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.events.clear()
        self.call("Page.navigate", session=session, url=url)
        self.wait_for("Page.loadEventFired", session)
        self.listen(SETTLE)
        console = [m for e in self.events if (m := _message(e, session))]
        dom = self.call(
            "Runtime.evaluate",
            session=session,
            expression="document.documentElement.outerHTML",
            returnByValue=True,
        )["result"]["value"]
        if screenshot is not None:
            data = self.call("Page.captureScreenshot", session=session, format="png")["data"]
            Path(screenshot).write_bytes(base64.b64decode(data))
        return Rendered(dom, console)

    # the protocol: {"id", "method", "params", "sessionId"} out, {"id", "result"} or events back

    def send(self, method: str, session: str | None = None, **params: Any) -> int:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        return self.next_id

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its answer (events meanwhile are kept)."""
        wanted = self.send(method, session, **params)
        deadline = time.monotonic() + TIMEOUT
        while True:
            for message in self.receive(deadline):
                if message.get("id") == wanted:
                    if "error" in message:
                        raise RuntimeError(f"Chromium: {method}: {message['error']}")
                    return message.get("result", {})
                self.events.append(message)

    def wait_for(self, event: str, session: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(
            e.get("method") == event and e.get("sessionId") == session for e in self.events
        ):
            self.events.extend(self.receive(deadline))

    def listen(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.events.extend(self.receive(end, expire=False))

    def receive(self, deadline: float, expire: bool = True) -> list[dict[str, Any]]:
        """The complete messages read before `deadline` (at least one unless `expire` is False)."""
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                if not expire:
                    return []
                raise TimeoutError(f"Chromium did not answer within {TIMEOUT:.0f} s")
            ready, _, _ = select.select([self.answers], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.answers, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited (code {self.process.poll()})")
            self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\0")
        return [json.loads(m) for m in complete]


def _message(event: dict[str, Any], session: str) -> str | None:
    """The text of a console call, an uncaught exception or a browser log entry; else None."""
    if event.get("sessionId") != session:
        return None
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled":
        args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        return f"console.{params['type']}: {args}"
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        text = details.get("exception", {}).get("description") or details.get("text", "")
        return f"uncaught: {text}"
    if method == "Log.entryAdded":
        entry = params["entry"]
        where = f" ({entry['url']})" if entry.get("url") else ""
        return f"{entry['source']} {entry['level']}: {entry['text']}{where}"
    return None
