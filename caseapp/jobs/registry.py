"""Names of job functions and periodic schedules, filled in by the features at import time."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

JobFn = Callable[..., None]
F = TypeVar("F", bound=JobFn)
MAX_STR_ARG = 200
_JOBS: dict[str, JobFn] = {}
_TIMEOUTS: dict[str, int] = {}
Interval = int | Callable[[Any], int]  # seconds, or a function of the app's Config
_PERIODIC: dict[str, Interval] = {}


class JobError(Exception):
    """A job is unknown, or its arguments are not plain ids."""


@dataclass(frozen=True)
class Periodic:
    """A job enqueued by `tick()` every `every_seconds`."""

    name: str
    every: Interval

    def seconds(self, config: Any) -> int:
        """The interval in seconds under `config`."""
        value = self.every(config) if callable(self.every) else self.every
        if int(value) < 1:
            raise JobError(f"periodic job {self.name!r}: interval must be at least 1 second")
        return int(value)


def job(name: str, *, timeout: int | None = None) -> Callable[[F], F]:
    """Register `fn(**ids) -> None` under `name`; it works in `db.session`, the runner commits.

    `timeout` (seconds) overrides rq's default of 180 s for long jobs (e.g. scrubbing files).
    """

    def register(fn: F) -> F:
        known = _JOBS.get(name)
        if known is not None and _ident(known) != _ident(fn):
            raise JobError(f"job name {name!r} already registered by {_ident(known)}")
        _JOBS[name] = fn
        if timeout is not None:
            _TIMEOUTS[name] = timeout
        return fn

    return register


def periodic(name: str, every_seconds: Interval) -> Callable[[F], F]:
    """Register a job without arguments that `tick()` enqueues every `every_seconds`.

    `every_seconds` is an int or a function of the Config, e.g.
    `lambda cfg: cfg.reward_expiry_every_seconds`.
    """
    if isinstance(every_seconds, int) and every_seconds < 1:
        raise JobError("every_seconds must be at least 1")

    def register(fn: F) -> F:
        job(name)(fn)
        _PERIODIC[name] = every_seconds
        return fn

    return register


def _ident(fn: JobFn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


def get(name: str) -> JobFn:
    """The function registered under `name`."""
    discover()
    try:
        return _JOBS[name]
    except KeyError:
        raise JobError(f"unknown job {name!r}") from None


def timeout_of(name: str) -> int | None:
    """The rq timeout registered for `name`, if any."""
    return _TIMEOUTS.get(name)


def periodic_jobs() -> list[Periodic]:
    """Every registered periodic job."""
    discover()
    return [Periodic(n, s) for n, s in sorted(_PERIODIC.items())]


def check_kwargs(kwargs: dict[str, Any]) -> None:
    """Job arguments are ids: JSON scalars or lists of them, short strings only."""
    for key, value in kwargs.items():
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if not isinstance(item, str | int | float | bool | type(None)):
                raise JobError(f"job argument {key!r} must be an id, not {type(item).__name__}")
            if isinstance(item, str) and len(item) > MAX_STR_ARG:
                raise JobError(f"job argument {key!r} is too long: pass an id, not content")


_discovered = False


def discover() -> None:
    """Import every `caseapp.<feature>.jobs` module so its jobs are registered."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    import caseapp

    for info in pkgutil.iter_modules(caseapp.__path__):
        if not info.ispkg or info.name == "jobs":
            continue
        name = f"caseapp.{info.name}.jobs"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
