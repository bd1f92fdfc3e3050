"""Logging for the service processes: ids and types, never an exception's message.

A traceback ends with the exception's message, and the message of an unexpected error may
quote personal data (a pydantic error quotes its input; a library may quote a value). So no
log record keeps an exception: whoever logs one, with `exc_info` or `log.exception`, in our
code, uvicorn, asyncio ("Task exception was never retrieved") or a library, the record says
only the exception's type and where it was raised, and a message that quotes the exception
quotes its type instead. That is done where records are made (the record factory), so it
holds whatever handlers uvicorn or a library installs later."""

from __future__ import annotations

import logging
import traceback
from typing import Any

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def configure() -> None:
    """Log to stderr at INFO, without exception messages (see above)."""
    logging.basicConfig(level=logging.INFO, format=FORMAT)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    make = logging.getLogRecordFactory()
    if getattr(make, "without_exceptions", False):
        return

    def without_exceptions(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _type_only(make(*args, **kwargs))

    without_exceptions.without_exceptions = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(without_exceptions)


def _type_only(record: logging.LogRecord) -> logging.LogRecord:
    if not record.exc_info:
        return record
    exc = record.exc_info[1]
    record.exc_info, record.exc_text = None, None
    if exc is None:
        return record
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" in {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    try:
        message = record.getMessage()
    except Exception:  # a mismatched format: the handler would have reported it anyway
        message = str(record.msg)
    for quoted in (repr(exc), str(exc)):  # asyncio quotes the failed task, exception and all
        if quoted:
            message = message.replace(quoted, type(exc).__name__)
    record.msg, record.args = f"{message} [{type(exc).__name__}{where}]", ()
    return record
