"""A real headless browser for the HTML report's tests: Debian's chromium, driven over the DevTools
protocol.

The protocol runs over a pipe (`--remote-debugging-pipe`: commands in on fd 3, events out on fd 4,
each a JSON message ended by a NUL byte), so no port is opened and no client library is needed.
`load(path)` opens a file and returns what a person would want to know about it: every request the
page made, every console message and uncaught exception, the browser's own log (a blocked load shows
there), and a full-page screenshot.

.ci/run installs chromium; elsewhere the tests that need it are skipped with the reason, unless
GRADCHECK_REQUIRE_BROWSER=1 makes its absence a failure.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# The flags the design notes give for this machine kind: no sandbox (root), no GPU, nothing in the
# background that talks to the network, a fresh profile.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]
TIMEOUT = 60.0
# the page's headings and table column headers, in page order, whitespace collapsed
HEADINGS = (
    "JSON.stringify(Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6, th'))"
    ".map(e => e.tagName.toLowerCase() + ': ' + e.textContent.replace(/\\s+/g, ' ').trim()))"
)


def chromium() -> str:
    """The browser's path, or skip (fail under GRADCHECK_REQUIRE_BROWSER=1) when it is not
    installed."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "chromium is not installed (apt-get install chromium; .ci/run installs it)"
    if os.environ.get("GRADCHECK_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class PageLoad:
    url: str
    # every URL the page asked for, the document first
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)  # (type, text) of console calls
    exceptions: list[str] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)  # (level, text) of the browser's log
    screenshot: bytes = b""
    text: str = ""  # document.body.innerText
    headings: list[str] = field(default_factory=list)  # "h2: text", "th: text", in page order

    @property
    def errors(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and browser log errors: a clean page has
        none."""
        return (
            [
                f"console.{kind}: {text}"
                for kind, text in self.console
                if kind in ("error", "warning", "assert")
            ]
            + [f"exception: {text}" for text in self.exceptions]
            + [f"log {level}: {text}" for level, text in self.log if level in ("error", "warning")]
        )

    @property
    def other_requests(self) -> list[str]:
        return [url for url in self.requests if url != self.url]


class _Pipe:
    """The DevTools protocol over chromium's pipe: send a command, wait for its answer, collect
    events."""

    def __init__(self, binary: str, profile: str) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        # in the child: the protocol's fixed descriptors, inheritable (os.dup2's default)
        def wire() -> None:
            high = [
                fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_read, from_browser_write)
            ]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        # close_fds=False: subprocess would close fds 3 and 4 after wire() runs; every other
        # descriptor of ours is non-inheritable (Python's default) and closes on exec anyway.
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=wire,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._next_id = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as stream:
            while True:
                chunk = stream.read(65536)
                if not chunk:
                    break
                buffer += chunk
                while b"\0" in buffer:
                    raw, buffer = buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    if "id" in message:
                        with self._lock:
                            self._answers[message["id"]] = message
                            self._lock.notify_all()
                    else:
                        self.events.put(message)

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        with self._lock:
            while ident not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"chromium did not answer {method}")
                self._lock.wait(left)
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)


def load(path: Path, width: int = 1200) -> PageLoad:
    """Open `path` in headless chromium, wait for the load event and a quiet moment, and report
    (PageLoad)."""
    binary = chromium()
    url = path.resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="gradcheck-chromium-") as profile:
        pipe = _Pipe(binary, profile)
        try:
            return _load(pipe, url, width)
        finally:
            pipe.close()


def _load(pipe: _Pipe, url: str, width: int) -> PageLoad:
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Network", "Runtime", "Log"):
        pipe.send(f"{domain}.enable", session=session)
    pipe.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    result = PageLoad(url)
    pipe.send("Page.navigate", {"url": url}, session=session)
    loaded, quiet_until = False, None
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            event = pipe.events.get(timeout=0.2)
        except queue.Empty:
            if quiet_until is not None and time.monotonic() >= quiet_until:
                break
            continue
        if event.get("sessionId") != session:
            continue
        _record(event, result)
        if event["method"] == "Page.loadEventFired":
            loaded = True
        if loaded:
            quiet_until = time.monotonic() + 1.0  # late requests and errors still count
    if not loaded:
        raise TimeoutError(f"{url} did not load within {TIMEOUT:.0f} s")
    result.text = pipe.send(
        "Runtime.evaluate",
        {"expression": "document.body.innerText", "returnByValue": True},
        session=session,
    )["result"].get("value", "")
    result.headings = json.loads(
        pipe.send(
            "Runtime.evaluate",
            {"expression": HEADINGS, "returnByValue": True},
            session=session,
        )["result"].get("value", "[]")
    )
    metrics = pipe.send("Page.getLayoutMetrics", session=session)
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = pipe.send(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {
                "x": 0,
                "y": 0,
                "width": width,
                "height": min(size["height"], 8000),
                "scale": 1,
            },
        },
        session=session,
    )
    result.screenshot = base64.b64decode(shot["data"])
    return result


def _record(event: dict[str, Any], result: PageLoad) -> None:
    method, params = event["method"], event.get("params", {})
    if method == "Network.requestWillBeSent":
        result.requests.append(params["request"]["url"])
    elif method == "Runtime.consoleAPICalled":
        text = " ".join(
            str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])
        )
        result.console.append((params.get("type", ""), text))
    elif method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        result.exceptions.append(
            details.get("exception", {}).get("description") or details.get("text", "")
        )
    elif method == "Log.entryAdded":
        entry = params.get("entry", {})
        result.log.append((entry.get("level", ""), entry.get("text", "")))
