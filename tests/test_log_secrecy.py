"""An unexpected exception whose message quotes personal data leaves no trace of it in any
log: not in the service's own error line, not in a traceback uvicorn prints, not when the
answer had already started, not from a background task, not where code or asyncio logs the
exception itself (issue 9 item 15).

The app runs as the services run: in its own process, behind `serve()` (uvicorn) with the
logging `kmt <service>` sets up, everything it writes to stdout and stderr in one file."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.common.problems import MEDIA_TYPE
from services.devstack.paths import REPO, free_port
from services.devstack.process import wait_http_ok

BSN = "123456782"
SERVER = textwrap.dedent(
    """
    import asyncio
    import gc
    import logging
    import sys
    from fastapi import BackgroundTasks, FastAPI
    from fastapi.responses import StreamingResponse
    from services.bus.runtime import serve
    from services.cli import _logging
    from services.common.http import install_error_handlers
    from services.common.settings import Settings

    SECRET = "BSN {bsn} van het slachtoffer"
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {{"status": "ok"}}

    @app.get("/boom")
    def boom() -> None:
        raise ValueError(SECRET)

    @app.get("/boom-async")
    async def boom_async() -> None:
        raise KeyError(SECRET)

    @app.get("/halfway")
    def halfway() -> StreamingResponse:
        def lines():
            yield b"eerste regel\\n"
            raise RuntimeError(SECRET)
        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/afterwards")
    def afterwards(tasks: BackgroundTasks) -> dict[str, str]:
        def fail() -> None:
            raise LookupError(SECRET)
        tasks.add_task(fail)
        return {{"status": "ok"}}

    @app.get("/group")
    async def group() -> None:
        raise ExceptionGroup("groep", [ValueError(SECRET)])

    @app.get("/logged")
    def logged() -> dict[str, str]:
        try:
            int(SECRET)
        except ValueError:
            logging.getLogger("kmt.test").exception("melding niet verwerkt")
        return {{"status": "ok"}}

    @app.get("/orphan")
    async def orphan() -> dict[str, str]:
        async def fail() -> None:
            raise PermissionError(SECRET)
        asyncio.get_running_loop().create_task(fail())  # never awaited, never kept
        return {{"status": "ok"}}

    @app.get("/collect")
    async def collect() -> dict[str, str]:
        gc.collect()  # asyncio now logs the orphaned task's exception
        return {{"status": "ok"}}

    _logging()
    serve(app, Settings(), int(sys.argv[1]))
    """
).format(bsn=BSN)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port, log = free_port(), tmp_path / "service.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(port)], cwd=REPO, stdout=out, stderr=out
        )
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health", process, "log-secrecy")
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)


def test_an_exception_quoting_a_bsn_leaves_no_trace_in_any_log(
    server: tuple[str, Path],
) -> None:
    url, log = server
    for path in ("/boom", "/boom-async", "/group"):
        answer = httpx.get(url + path)
        assert answer.status_code == 500
        assert answer.headers["content-type"] == MEDIA_TYPE
        assert answer.json()["detail"].startswith("Interne fout")
        assert BSN not in answer.text
    with pytest.raises(httpx.HTTPError):  # the answer had started: it is cut off, no more
        httpx.get(url + "/halfway").read()
    assert httpx.get(url + "/afterwards").status_code == 200
    for path in ("/logged", "/orphan", "/collect", "/health"):
        assert httpx.get(url + path).status_code == 200

    written = log.read_text()
    assert BSN not in written
    assert "Traceback" not in written
    for kind in ("ValueError", "KeyError", "ExceptionGroup", "RuntimeError", "LookupError"):
        assert f": {kind}" in written  # each failure was logged, by its type alone
    # whoever logs an exception itself (our code, asyncio) leaves its type and place only
    assert "melding niet verwerkt [ValueError in <string>:" in written
    assert "Task exception was never retrieved" in written and "[PermissionError in" in written
