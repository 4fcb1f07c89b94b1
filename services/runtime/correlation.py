"""Correlation ids: which request an event, an access-log row or a log line came from.

A caller may name its request (`X-Correlation-ID`) so that its logs and ours line up, but
the id is stored in clear wherever the request leaves a trace (events, the access log,
break-glass alerts, log lines), so it must not carry personal data: only a safe shape is
taken as given (`[A-Za-z0-9._-]`, 1 to 64 characters; a UUID fits). Anything else (spaces,
other characters, longer) is replaced by a fresh id, which the response echoes.
"""

import re
import uuid

SAFE_CORRELATION_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def is_safe_correlation_id(given: str) -> bool:
    """Tell whether a caller's correlation id has the shape we store as given."""
    return SAFE_CORRELATION_ID.fullmatch(given) is not None


def correlation_id_for(given: str | None) -> str:
    """Return the caller's correlation id if its shape is safe, else a fresh one."""
    return given if given is not None and is_safe_correlation_id(given) else str(uuid.uuid4())
