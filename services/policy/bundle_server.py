"""The bundle server OPA polls for its one bundle: the active policy version.

`GET /bundles/kmt.tar.gz` answers the signed bundle of the version the store names active
(`VersionStore.active`), with its SHA-256 as `ETag`, and `304 Not Modified` when OPA already
has it; `404` before any version is active. OPA verifies the signature itself and keeps its
bundle when a download fails verification, so this server is trusted for nothing but
availability. `GET /health` answers 200, `GET /ready` 200 while an intact version is active
(else 503), `GET /metrics` counts the bundle requests by status and the long polls by how they
ended (`services/observability`).

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

from services.observability import health, metrics
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
        self.checks = {"beleidsversie": self.check_active}
        super().__init__(address, _Handler)

    def check_active(self) -> None:
        """Ready: a version is active and its bundle matches its manifest."""
        active = self.store.active()
        if active is None:
            raise health.NotReady("geen actieve beleidsversie")
        self.store.load(active)

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
        if self.path == f"/{BUNDLE_RESOURCE}":
            metrics.BUNDLE_REQUESTS.labels(str(int(self._bundle()))).inc()
        elif (found := health.probe(self.path, self.server.checks)) is not None:
            self._answer(*found)
        else:
            self._answer(HTTPStatus.NOT_FOUND, b"", "text/plain")

    def _bundle(self) -> HTTPStatus:
        """Answer the active bundle, `304`, `404` or `503`; which one."""
        store = self.server.store
        active = store.active()
        if active is None:
            return self._answer(HTTPStatus.NOT_FOUND, b"", "text/plain")
        try:
            version = store.load(active)
        except VersionError as exc:  # a damaged store: OPA keeps what it has
            log.error("actieve beleidsversie onbruikbaar: %s", exc)
            return self._answer(HTTPStatus.SERVICE_UNAVAILABLE, b"", "text/plain")
        etag = f'"{version.bundle_sha256}"'
        if self.headers.get("If-None-Match") == etag:
            wait = self._wait_seconds()
            switched = self._switched_within(wait, active)
            if wait:
                metrics.BUNDLE_LONG_POLLS.labels("switched" if switched else "expired").inc()
            if switched:
                return self._bundle()  # the new active version, at once
            return self._answer(HTTPStatus.NOT_MODIFIED, b"", LONG_POLL_TYPE, etag)
        return self._answer(HTTPStatus.OK, version.bundle.read_bytes(), LONG_POLL_TYPE, etag)

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

    def _answer(self, status: HTTPStatus, body: bytes, kind: str, etag: str = "") -> HTTPStatus:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        if body:
            self.wfile.write(body)
        return status

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: OPA polls every few seconds, and its own log names each activation."""
