"""Ctrl-C or a supervisor's SIGTERM, noticed by a command that runs until told to stop."""

import signal


class StopRequest:
    """Becomes `requested` when SIGINT or SIGTERM arrives (installed on creation)."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._request)
        signal.signal(signal.SIGTERM, self._request)

    def _request(self, *_: object) -> None:
        self.requested = True
