"""Request size and rate limits, as a partner app meets them: 413 and 429 in the error shape."""

from collections.abc import AsyncIterator

import httpx
import pytest

from services.projection.bootstrap import create_projection_app
from services.runtime.api_keys import ApiKeyStore
from services.runtime.http.app_factory import configure_http_limits
from services.runtime.rate_limits import HttpLimits
from tests.integration.projection.conftest import ID_SECRET, Organisations

LIMITS = HttpLimits(
    max_request_bytes=2_048, rate_per_minute=60, rate_burst=5, auth_failures_per_minute=1,
    auth_failures_burst=3,
)  # fmt: skip


@pytest.fixture
async def api(orgs: Organisations, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_projection_app(database_url=database_url, id_secret=ID_SECRET, schema=orgs.schema)
    configure_http_limits(app, LIMITS)
    async with app.router.lifespan_context(app):
        key = await ApiKeyStore(orgs.pool).issue(org="housing", role="data_steward")
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as client:
            yield client


async def test_a_body_over_the_limit_is_refused_before_it_is_read(api: httpx.AsyncClient) -> None:
    huge = {"reason": "x" * 5_000}
    response = await api.post("/v1/identity/links", json=huge)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert error["correlation_id"] == response.headers["X-Correlation-ID"]


async def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(
    api: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1_000

    response = await api.post(
        "/v1/identity/links", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_a_body_under_the_limit_reaches_validation(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/identity/links", json={"reason": "x"})
    assert response.status_code == 422


async def test_a_key_over_its_rate_waits_and_other_keys_do_not(
    api: httpx.AsyncClient, orgs: Organisations
) -> None:
    answers = [(await api.get("/v1/identity/review")).status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    limited = await api.get("/v1/identity/review")
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.headers["Retry-After"] == "1"
    other = await ApiKeyStore(orgs.pool).issue(org="voluntary", role="data_steward")
    fresh = await api.get("/v1/identity/review", headers={"Authorization": f"Bearer {other}"})
    assert fresh.status_code == 200


async def test_a_client_guessing_keys_is_slowed_down_whatever_it_sends_next(
    api: httpx.AsyncClient,
) -> None:
    """Three wrong keys from one address: the fourth request waits, even with a good key."""
    for guess in ("cw_0123456789ab_guess", "cw_aaaaaaaaaaaa_x", "not-a-key"):
        wrong = await api.get("/v1/citizens", headers={"Authorization": f"Bearer {guess}"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "unauthenticated"
    blocked = await api.get("/v1/identity/review")  # the client's own good key
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "rate_limited"
    assert int(blocked.headers["Retry-After"]) >= 1
