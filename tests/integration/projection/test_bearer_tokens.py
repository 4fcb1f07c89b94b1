"""Bearer tokens from an OIDC issuer, as a partner app presents them and as someone forges them.

The issuer is a real HTTP server on localhost publishing its discovery document and key set;
tokens are signed with its RSA key, or forged every way a token can be.
"""

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.projection.bootstrap import create_projection_app
from services.runtime.bearer_tokens import BearerTokens, OidcSettings
from services.runtime.http.app_factory import configure_http_limits
from services.runtime.rate_limits import HttpLimits
from tests.integration.projection.conftest import ID_SECRET, Organisations
from tests.integration.projection.reading import key_of, known_to_housing_and_mental_health

KID = "caseweave-test-key"
AUDIENCE = "caseweave"


@dataclass(frozen=True)
class Issuer:
    """A running OIDC issuer: its URL and the private key its tokens are signed with."""

    url: str
    key: rsa.RSAPrivateKey

    def token(self, **claims: Any) -> str:
        """Return a token the issuer signed, with these claims over sensible defaults."""
        now = int(time.time())
        body = {
            "iss": self.url, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300,
            "caseweave_org": "housing", "caseweave_role": "frontline", **claims,
        }  # fmt: skip
        return jwt.encode(
            {k: v for k, v in body.items() if v is not None}, self.key, algorithm="RS256",
            headers={"kid": KID},
        )  # fmt: skip


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    """An issuer on localhost serving its discovery document and key set over HTTP."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(jwk))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Issuer(url, key)
    server.shutdown()


def _handler(jwk: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://{self.headers['Host']}"
            documents = {
                "/.well-known/openid-configuration": {"issuer": base, "jwks_uri": f"{base}/jwks"},
                "/jwks": {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]},
            }
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
async def api(
    orgs: Organisations, database_url: str, issuer: Issuer
) -> AsyncIterator[httpx.AsyncClient]:
    """The projection API accepting the issuer's tokens besides API keys."""
    app = create_projection_app(database_url=database_url, id_secret=ID_SECRET, schema=orgs.schema)
    async with app.router.lifespan_context(app):
        app.state.bearer_tokens = BearerTokens(OidcSettings(issuer=issuer.url))
        configure_http_limits(app, HttpLimits(auth_failures_burst=1_000))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_from_the_issuer_is_its_organisation_and_role(
    api: httpx.AsyncClient, orgs: Organisations, issuer: Issuer
) -> None:
    await known_to_housing_and_mental_health(orgs)
    found = await api.get("/v1/citizens", params={"nhs_number": "9434765919"},
                          headers=_bearer(issuer.token()))  # fmt: skip
    assert found.status_code == 200, found.text
    citizen = found.json()["citizens"][0]["citizen_id"]
    log = await api.get(f"/v1/citizens/{citizen}/access-log", headers=_bearer(issuer.token()))
    assert log.json()["accesses"][0]["key_id"] == "oidc:alice"
    assert log.json()["accesses"][0]["viewer_org"] == "housing"
    key = await key_of(orgs, "voluntary")  # API keys still work beside tokens
    assert (await api.get(f"/v1/citizens/{citizen}", headers=key)).status_code == 200


def _stranger_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _forged(issuer: Issuer) -> dict[str, str]:
    """Every way a token can be wrong, by what is wrong with it."""
    now = int(time.time())
    public_pem = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "mallory", "exp": now + 300,
              "caseweave_org": "housing", "caseweave_role": "frontline"}  # fmt: skip
    return {
        "expired": issuer.token(exp=now - 120),
        "not yet valid": issuer.token(nbf=now + 600),
        "no expiry": issuer.token(exp=None),
        "another audience": issuer.token(aud="someone-else"),
        "another issuer": issuer.token(iss="https://evil.example"),
        "no organisation": issuer.token(caseweave_org=None),
        "unknown organisation": issuer.token(caseweave_org="police"),
        "unknown role": issuer.token(caseweave_role="admin"),
        "no subject": issuer.token(sub=None),
        "signed by a stranger": jwt.encode(
            claims, _stranger_key(), algorithm="RS256", headers={"kid": KID}
        ),
        "public key as HMAC secret": _hs256(claims, public_pem),
        "unsigned": jwt.encode(claims, None, algorithm="none", headers={"kid": KID}),
        "unknown key id": jwt.encode(
            claims, issuer.key, algorithm="RS256", headers={"kid": "other"}
        ),
        "not a token": "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
        # the key id is public: an EC algorithm named against the issuer's RSA key made
        # PyJWT raise TypeError, a 500 for anyone, uncounted by the failure limiter
        "EC algorithm on an RSA key": _unsigned_as(claims, alg="ES256"),
        "far too long": issuer.token(padding="x" * 10_000),
    }


def _unsigned_as(claims: dict[str, Any], *, alg: str) -> str:
    """A token whose header names `alg` and the issuer's key id, with a made-up signature."""
    header = {"alg": alg, "typ": "JWT", "kid": KID}
    signing = f"{_b64_json(header)}.{_b64_json(claims)}"
    return f"{signing}.{base64.urlsafe_b64encode(b'0' * 64).rstrip(b'=').decode()}"


def _b64_json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """A token 'signed' with the public key as a shared secret (the classic confusion)."""

    signing = f"{_b64_json({'alg': 'HS256', 'typ': 'JWT', 'kid': KID})}.{_b64_json(claims)}"
    mac = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


async def test_every_forged_or_wrong_token_is_refused(
    api: httpx.AsyncClient, issuer: Issuer
) -> None:
    for what, token in _forged(issuer).items():
        refused = await api.get("/v1/citizens?nhs_number=9434765919", headers=_bearer(token))
        assert refused.status_code == 401, what
        assert refused.json()["error"]["code"] == "unauthenticated", what


async def test_an_issuer_whose_keys_cannot_be_fetched_lets_nobody_in(
    orgs: Organisations, database_url: str, issuer: Issuer
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    app = create_projection_app(database_url=database_url, id_secret=ID_SECRET, schema=orgs.schema)
    async with app.router.lifespan_context(app):
        app.state.bearer_tokens = BearerTokens(OidcSettings(issuer=closed))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.get("/v1/citizens?nhs_number=9434765919",
                                      headers=_bearer(issuer.token(iss=closed)))  # fmt: skip
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "identity_provider_unreachable"
