"""Stopping the processes the devstack starts, and waiting for them to answer."""

from __future__ import annotations

import subprocess
import time

import httpx


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it does not go in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_http_ok(
    url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 30.0
) -> None:
    """Return once `url` answers 200; fail if `process` exits or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} stopte meteen (exit {process.returncode})")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} niet gezond binnen {timeout:.0f} s")
        time.sleep(0.2)
