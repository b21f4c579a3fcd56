"""
Check an HTML page in a real headless Chromium through the DevTools protocol (stdlib only).

The browser talks over ``--remote-debugging-pipe`` (requests on fd 3, replies on fd 4, JSON
messages ended by NUL). The page is loaded from disk; after its load event the check reads every
``<img>``'s ``naturalWidth`` and collects console errors, uncaught exceptions and browser log
errors (a missing image file shows up there as ``net::ERR_FILE_NOT_FOUND``).
"""

from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import select
import shutil
import subprocess
import tempfile
import time

FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--remote-debugging-pipe')
IMAGES_JS = ('JSON.stringify(Array.from(document.images).map(i => ({src: i.getAttribute("src"), '
             'complete: i.complete, width: i.naturalWidth})))')


@dataclass
class PageCheck:
    """What the browser saw."""

    images: list = field(default_factory=list)      # dicts: src, complete, width
    errors: list = field(default_factory=list)      # console / exception / log error texts
    title: str = ''

    @property
    def broken_images(self) -> list:
        """Images that did not render (not complete or zero natural width)."""
        return [i for i in self.images if not i['complete'] or i['width'] <= 0]


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for name in ('chromium', 'chromium-browser', 'google-chrome', 'chrome'):
        path = shutil.which(name)
        if path:
            return path
    return None


class _Pipe:
    """DevTools protocol over the two pipe ends: requests, replies and buffered events."""

    def __init__(self, write_fd: int, read_fd: int) -> None:
        self.write_fd, self.read_fd = write_fd, read_fd
        self.buffer = b''
        self.next_id = 0
        self.events: list = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message = {'id': self.next_id, 'method': method, 'params': params or {}}
        if session:
            message['sessionId'] = session
        os.write(self.write_fd, json.dumps(message).encode() + b'\0')
        return self.next_id

    def _read(self, deadline: float) -> dict:
        while b'\0' not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('no answer from chromium')
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                chunk = os.read(self.read_fd, 1 << 16)
                if not chunk:
                    raise ConnectionError('chromium closed the DevTools pipe')
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b'\0', 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        ident = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            if message.get('id') == ident:
                if 'error' in message:
                    raise RuntimeError(f'{method}: {message["error"]}')
                return message.get('result', {})
            self.events.append(message)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        for index, event in enumerate(self.events):
            if event.get('method') == method:
                return self.events[index]
        while True:
            message = self._read(deadline)
            self.events.append(message)
            if message.get('method') == method:
                return message


def _error_texts(events: list) -> list:
    errors = []
    for event in events:
        method, params = event.get('method'), event.get('params', {})
        if method == 'Runtime.consoleAPICalled' and params.get('type') in ('error', 'assert'):
            errors.append('console: ' + ' '.join(str(a.get('value', a.get('description', '')))
                                                 for a in params.get('args', [])))
        elif method == 'Runtime.exceptionThrown':
            details = params.get('exceptionDetails', {})
            errors.append('exception: ' + str(details.get('exception', {}).get(
                'description', details.get('text', ''))))
        elif method == 'Log.entryAdded' and params.get('entry', {}).get('level') == 'error':
            entry = params['entry']
            errors.append(f"log: {entry.get('text', '')} {entry.get('url', '')}".strip())
    return errors


def check_page(path: Path, *, binary: str | None = None, timeout: float = 60.0,
               settle_s: float = 0.5) -> PageCheck:
    """Load ``path`` in headless Chromium and return its images and errors."""
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError('chromium is not installed')
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()

    # fds 3 and 4 exist here (os.pipe takes the lowest free fds), so pass_fds can keep them.
    def wire_fds():  # the DevTools pipe is fixed at fds 3 (in) and 4 (out)
        # Move both ends above 4 first: os.pipe() may have returned 3 or 4 itself.
        read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)
        os.dup2(read_end, 3)
        os.dup2(write_end, 4)

    with tempfile.TemporaryDirectory(prefix='ros2_infer_chromium_') as profile:
        process = subprocess.Popen(
            [binary, *FLAGS, f'--user-data-dir={profile}', 'about:blank'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_fds, pass_fds=(3, 4))
        os.close(to_browser_r)
        os.close(from_browser_w)
        pipe = _Pipe(to_browser_w, from_browser_r)
        try:
            target = pipe.call('Target.createTarget', {'url': 'about:blank'}, timeout=timeout)
            session = pipe.call('Target.attachToTarget', {'targetId': target['targetId'],
                                                          'flatten': True})['sessionId']
            for domain in ('Runtime.enable', 'Log.enable', 'Page.enable'):
                pipe.call(domain, session=session)
            pipe.events.clear()
            pipe.call('Page.navigate', {'url': Path(path).resolve().as_uri()}, session=session)
            pipe.wait_event('Page.loadEventFired', timeout)
            time.sleep(settle_s)   # let late console messages arrive
            images = json.loads(pipe.call('Runtime.evaluate', {
                'expression': IMAGES_JS, 'returnByValue': True}, session=session)
                ['result']['value'])
            title = pipe.call('Runtime.evaluate', {'expression': 'document.title',
                                                   'returnByValue': True},
                              session=session)['result']['value']
            result = PageCheck(images, _error_texts(pipe.events), title)
            try:
                pipe.call('Browser.close', timeout=5)
            except (TimeoutError, ConnectionError, RuntimeError):
                pass
            return result
        finally:
            os.close(to_browser_w)
            os.close(from_browser_r)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
