"""The bundle server OPA polls for its one bundle: the active policy version.

`GET /bundles/kmt.tar.gz` answers the signed bundle of the version the store names active
(`VersionStore.active`), with its SHA-256 as `ETag`, and `304 Not Modified` when OPA already
has it; `404` before any version is active. OPA verifies the signature itself and keeps its
bundle when a download fails verification, so this server is trusted for nothing but
availability. `GET /health` answers 200.

Long polling (OPA's `polling.long_polling_timeout_seconds`, `opa_bundle_args`): OPA asks with
`Prefer: …wait=N` and the ETag it has; while the active version is still that one the server
holds the request, for at most N seconds (capped at `MAX_WAIT_SECONDS`), and answers the new
bundle the moment the active version switches, else `304` at the end. So an activation
reaches OPA at once, without a restart; answers carry `Content-Type:
application/vnd.openpolicyagent.bundles`, which tells OPA that the server long-polls.

It reads the store on every request, so it holds no state: run it next to the store
(`kmt policy serve`, a container in docker-compose.yml; `kmt up` and the tests run it in
front of their own OPA, `services/devstack/opa.py`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from services.policy.bundle_signing import BUNDLE_RESOURCE
from services.policy.versions import VersionError, VersionStore

log = logging.getLogger(__name__)
LONG_POLL_TYPE = "application/vnd.openpolicyagent.bundles"
"""OPA long-polls a server whose bundles come with this type."""
MAX_WAIT_SECONDS = 60
CHECK_EVERY = 0.1
_WAIT = re.compile(r"\bwait=(\d{1,4})\b")


class BundleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: VersionStore, address: tuple[str, int]) -> None:
        self.store = store
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> threading.Thread:
        """Serve in a daemon thread until `shutdown()`."""
        thread = threading.Thread(target=self.serve_forever, name="bundle-server", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: BundleServer

    def do_GET(self) -> None:
        if self.path == "/health":
            self._answer(HTTPStatus.OK, b"{}", "application/json")
        elif self.path == f"/{BUNDLE_RESOURCE}":
            self._bundle()
        else:
            self._answer(HTTPStatus.NOT_FOUND, b"", "text/plain")

    def _bundle(self) -> None:
        store = self.server.store
        active = store.active()
        if active is None:
            self._answer(HTTPStatus.NOT_FOUND, b"", "text/plain")
            return
        try:
            version = store.load(active)
        except VersionError as exc:  # a damaged store: OPA keeps what it has
            log.error("actieve beleidsversie onbruikbaar: %s", exc)
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, b"", "text/plain")
            return
        etag = f'"{version.bundle_sha256}"'
        if self.headers.get("If-None-Match") == etag:
            if self._switched_within(self._wait_seconds(), active):
                self._bundle()  # the new active version, at once
            else:
                self._answer(HTTPStatus.NOT_MODIFIED, b"", LONG_POLL_TYPE, etag)
            return
        self._answer(HTTPStatus.OK, version.bundle.read_bytes(), LONG_POLL_TYPE, etag)

    def _wait_seconds(self) -> float:
        found = _WAIT.search(self.headers.get("Prefer", ""))
        return min(int(found.group(1)), MAX_WAIT_SECONDS) if found else 0.0

    def _switched_within(self, seconds: float, active: str) -> bool:
        """Whether the store's active version leaves `active` within `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(CHECK_EVERY)
            if self.server.store.active() != active:
                return True
        return False

    def _answer(self, status: HTTPStatus, body: bytes, kind: str, etag: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: OPA polls every few seconds, and its own log names each activation."""
