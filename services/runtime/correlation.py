"""Correlation ids: which request an event, an access-log row or a log line came from.

A caller may name its request (`X-Correlation-ID`) so that its logs and ours line up, but
the id is stored in clear wherever the request leaves a trace (events, the access log,
break-glass alerts, log lines), so it must not be able to carry personal data. Only an
opaque token is taken as given: 16 to 64 hexadecimal digits and hyphens, starting and
ending with a digit (a UUID, a W3C trace id); a name, an NHS number or a free reference
("David.Smith", "9434765919", "ref-42") is replaced by a fresh UUID, which the response
echoes so the caller can still line its logs up with ours.
"""

import re
import uuid

SAFE_CORRELATION_ID = re.compile(r"[0-9A-Fa-f][0-9A-Fa-f-]{14,62}[0-9A-Fa-f]")


def is_safe_correlation_id(given: str) -> bool:
    """Tell whether a caller's correlation id has the shape we store as given."""
    return SAFE_CORRELATION_ID.fullmatch(given) is not None


def correlation_id_for(given: str | None) -> str:
    """Return the caller's correlation id if its shape is safe, else a fresh one."""
    return given if given is not None and is_safe_correlation_id(given) else str(uuid.uuid4())
