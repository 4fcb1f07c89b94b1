"""Bearer tokens from an OIDC issuer: the production alternative to API keys.

When a deployment names an issuer (`CASEWEAVE_OIDC_ISSUER`), a bearer token that is not a
Caseweave API key is taken for a JWT from that issuer. It is accepted only if:
- it is signed with an asymmetric algorithm (RS256, PS256, ES256; never `none` or a shared
  secret) by a key in the issuer's published key set (its JWKS, found through the issuer's
  `/.well-known/openid-configuration`, or `CASEWEAVE_OIDC_JWKS_URL`);
- its `iss` is the issuer and its `aud` holds the audience (`CASEWEAVE_OIDC_AUDIENCE`);
- it has not expired (`exp`, required; 30 s leeway for clocks) and is already valid (`nbf`);
- it names a subject (`sub`), and its organisation and role claims
  (`CASEWEAVE_OIDC_ORG_CLAIM`, `CASEWEAVE_OIDC_ROLE_CLAIM`) name a Caseweave organisation and
  role.
The caller is then that organisation and role, identified as `oidc:<sub>` wherever a key id
would be (access log, rate limits, break-glass grants). A key set the issuer cannot be
reached for answers 503: nobody is let in on a guess.
"""

import asyncio
import json
import urllib.request
from dataclasses import dataclass
from typing import Any, cast

import jwt
import structlog

from events.envelope import ROLES, OrgId, Role
from events.organisations import DEFAULT_ORGANISATIONS, Organisations
from services.runtime.api_keys import Caller

logger = structlog.get_logger(__name__)
ALGORITHMS = ("RS256", "PS256", "ES256")
LEEWAY_SECONDS = 30
MAX_SUBJECT = 128
JWKS_TIMEOUT_SECONDS = 5.0  # fetching the issuer's discovery document or key set


class IssuerUnreachable(Exception):
    """The issuer's key set could not be fetched: tokens cannot be checked now."""


@dataclass(frozen=True)
class OidcSettings:
    """Which issuer's tokens a deployment accepts, and how they name organisation and role."""

    issuer: str
    audience: str = "caseweave"
    jwks_url: str | None = None
    org_claim: str = "caseweave_org"
    role_claim: str = "caseweave_role"


class BearerTokens:
    """Checks JWTs against one issuer's published keys (cached, refetched on a new key id)."""

    def __init__(
        self, settings: OidcSettings, organisations: Organisations = DEFAULT_ORGANISATIONS
    ) -> None:
        self.settings = settings
        self.organisations = organisations  # a token's organisation must be one of them
        self._keys: jwt.PyJWKClient | None = None

    async def caller(self, token: str) -> Caller | None:
        """Return the caller a valid token names, or None (logged, without the token)."""
        try:
            key = await asyncio.to_thread(self._signing_key, token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWKClientConnectionError, OSError, json.JSONDecodeError) as error:
            # the issuer's fault (unreachable, cut off, answering garbage), not the caller's
            logger.error("oidc_keys_unreachable", issuer=self.settings.issuer)
            raise IssuerUnreachable(self.settings.issuer) from error
        except Exception as error:  # any token that cannot be checked is refused, never a 500
            # (PyJWT raises TypeError for a header `alg` that does not fit the key's type)
            logger.info("bearer_token_refused", reason=type(error).__name__)
            return None
        return self._caller_of(claims)

    def _signing_key(self, token: str) -> Any:
        if self._keys is None:
            # the key set is cached for 5 min and refetched for an unknown key id (at most
            # every 30 s); no per-key cache, which would keep trusting a key the issuer
            # withdrew. A slow issuer is given up on after 5 s.
            self._keys = jwt.PyJWKClient(
                self._jwks_url(), cache_keys=False, lifespan=300, timeout=JWKS_TIMEOUT_SECONDS
            )
        return self._keys.get_signing_key_from_jwt(token).key

    def _jwks_url(self) -> str:
        if self.settings.jwks_url:
            return self.settings.jwks_url
        discovery = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            with urllib.request.urlopen(discovery, timeout=JWKS_TIMEOUT_SECONDS) as answer:  # noqa: S310 - https issuer from config
                url = json.load(answer)["jwks_uri"]
        except (OSError, ValueError, KeyError) as error:
            raise jwt.PyJWKClientConnectionError(f"no key set at {discovery}") from error
        return str(url)

    def _caller_of(self, claims: dict[str, Any]) -> Caller | None:
        org, role = claims.get(self.settings.org_claim), claims.get(self.settings.role_claim)
        subject = claims["sub"]
        if org not in self.organisations or role not in ROLES:
            logger.info("bearer_token_refused", reason="no_caseweave_organisation_or_role")
            return None
        if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT:
            logger.info("bearer_token_refused", reason="bad_subject")
            return None
        return Caller(key_id=f"oidc:{subject}", org=cast(OrgId, org), role=cast(Role, role))
