"""Content-free error logging: an exception's message may quote what a tip or case says."""

from __future__ import annotations

import logging
import os
import traceback

from flask import Flask

# Loggers whose records may carry an exception raised while handling content.
GUARDED_LOGGERS = ("caseapp", "flask.app", "rq.worker", "gunicorn.error")


def describe_error(exc: BaseException) -> str:
    """A content-free description of an exception: its type and where it was raised."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        frame = frames[-1]
        parts = frame.filename.replace(os.sep, "/").split("/")
        where = f" at {'/'.join(parts[-2:])}:{frame.lineno}"
    return f"{type(exc).__module__}.{type(exc).__qualname__}{where}"[:300]


def content_free_traceback(exc: BaseException) -> str:
    """The frames of a traceback and the exception's type, without any exception message."""
    stack = traceback.StackSummary.extract(traceback.walk_tb(exc.__traceback__),
                                           capture_locals=False)
    return ("Traceback (most recent call last):\n" + "".join(stack.format())
            + f"{type(exc).__module__}.{type(exc).__qualname__} (message withheld)")


class ContentFreeErrors(logging.Filter):
    """Replace the text of a logged exception by its content-free traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record; blank out its exception message and any chained causes."""
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = content_free_traceback(record.exc_info[1])
        return True


def init_app(app: Flask) -> None:
    """Guard the app's logger and the servers' error loggers."""
    guard = ContentFreeErrors()
    for name in (app.logger.name, *GUARDED_LOGGERS):
        logger = logging.getLogger(name)
        if not any(isinstance(f, ContentFreeErrors) for f in logger.filters):
            logger.addFilter(guard)
