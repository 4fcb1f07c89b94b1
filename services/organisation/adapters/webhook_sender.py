"""Send a notice to a charity's own endpoint, signed as Standard Webhooks says (with each of
the source's secrets, so the charity verifies with whichever it holds while one rotates)."""

import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

import httpx
from standardwebhooks import Webhook

TIMEOUT_SECONDS = 10.0


class Sent(NamedTuple):
    """How a delivery went: taken (a 2xx), or why not (the status or the error's kind)."""

    taken: bool
    why: str | None


class WebhookSender:
    """Posts signed notices; one HTTP client for every delivery."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT_SECONDS)

    async def send(
        self, endpoint: str, *, message_id: str, notice: dict[str, Any], secrets: tuple[str, ...]
    ) -> Sent:
        """Post the notice; never raise for the receiver's failings (they are retried)."""
        body = json.dumps(notice, separators=(",", ":")).encode()
        at = datetime.now(UTC)
        signatures = " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signatures,
        }
        try:
            answer = await self._client.post(endpoint, content=body, headers=headers)
        except httpx.HTTPError as error:
            return Sent(False, type(error).__name__)
        if 200 <= answer.status_code < 300:
            return Sent(True, None)
        return Sent(False, f"HTTP {answer.status_code}")

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
