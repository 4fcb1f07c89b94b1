"""Structured JSON logs to stdout, with request and event context merged into every line."""

import logging
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

import structlog

CONTEXT_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
_uncaught = structlog.get_logger("caseweave.uncaught")


def configure_logging(
    *, level: str = "INFO", fmt: str = "json", service: str = "caseweave"
) -> None:
    """Send structlog and standard-library logs to stdout as one JSON object per line.

    Every line names the service, whichever thread wrote it (Faust's consumer thread, a
    library's), and goes out in one write, so that the lines of processes sharing one log
    (`caseweave up`) never run together.
    """
    renderer = _renderer(fmt)
    shared: list[structlog.types.Processor] = [*CONTEXT_PROCESSORS, _NameTheService(service)]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # a line and its newline in one write: print() writes them apart when unbuffered
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    _route_standard_logging(shared, renderer, level)
    _report_uncaught_exceptions()


class _NameTheService:
    """Add `service` to every line (context variables do not reach other threads)."""

    def __init__(self, service: str) -> None:
        self._service = service

    def __call__(
        self, _: Any, __: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", self._service)
        return event_dict


def _report_uncaught_exceptions() -> None:
    """Log a thread's uncaught exception, and one Python could not raise, as lines like ours.

    Python writes them to stderr as bare tracebacks otherwise, e.g. when the worker ends the
    thread of a Faust consumer stuck on a vanished broker.
    """
    threading.excepthook = _log_thread_exception
    sys.unraisablehook = _log_unraisable_exception


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:  # as Python's own hook: a thread's exit is no error
        return
    try:
        _uncaught.error(
            "thread_failed",
            thread=getattr(args.thread, "name", None),
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )
    except Exception:  # logging unusable (the interpreter shutting down): Python's own way
        threading.__excepthook__(args)


def _log_unraisable_exception(args: "sys.UnraisableHookArgs") -> None:
    try:
        _uncaught.error(
            "exception_ignored",
            where=args.err_msg or "Exception ignored in",
            object=repr(args.object),
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )
    except Exception:
        sys.__unraisablehook__(args)


def _renderer(fmt: str) -> structlog.types.Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def _route_standard_logging(
    shared: list[structlog.types.Processor], renderer: structlog.types.Processor, level: str
) -> None:
    """Render uvicorn's, asyncpg's and aiokafka's own log records like ours."""
    handler = logging.StreamHandler(sys.stdout)  # writes a record and its newline in one call
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.EventRenamer("message"),
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True  # we write one line per request ourselves
    for chatty in ("faust", "mode"):  # a line per internal service started or stopped
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(level)))
