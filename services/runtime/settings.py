"""The one place that reads configuration: a typed settings object from CASEWEAVE_* variables."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.organisations import Sector
from services.runtime.bearer_tokens import OidcSettings
from services.runtime.rate_limits import HttpLimits


class Settings(BaseSettings):
    """Configuration of a Caseweave process; every field is a CASEWEAVE_<NAME> variable."""

    model_config = SettingsConfigDict(env_prefix="CASEWEAVE_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; unset means an embedded PostgreSQL under data_dir",
    )
    data_dir: Path = Field(default=Path(".caseweave"), description="embedded data and dev secrets")
    transport: Literal["postgres", "kafka"] = "postgres"
    host: str = "127.0.0.1"
    projection_port: int = 8000
    housing_port: int = 8001
    mental_health_port: int = 8002
    voluntary_port: int = 8003
    worker_metrics_port: int = Field(
        default=8010,
        ge=1,
        le=65535,
        description="port of GET /metrics of a process without an HTTP API (`caseweave run"
        " projection-worker`); the services serve /metrics on their own port",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    id_secret: str | None = Field(
        default=None,
        description="secret that keys citizen ids; generated under data_dir in development",
    )
    master_key: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="64 hex digits: wraps each person's data key (crypto-shredding); "
        "generated under data_dir in development",
    )
    pool_size: int = Field(
        default=12,
        ge=8,
        le=200,
        description="connections per process; a service's inbox and consumers hold some",
    )
    max_request_bytes: int = Field(
        default=1_048_576, ge=1_024, description="largest request body a service accepts (413)"
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=1, description="requests a minute per API key and process, on average"
    )
    rate_limit_burst: int = Field(
        default=100, ge=1, description="requests per API key at once after a quiet spell (429)"
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="proxies whose X-Forwarded-For names the client (comma-separated addresses"
        " or networks, or *); none by default: the client is whoever connected",
    )
    auth_failures_per_minute: int = Field(
        default=30, ge=1, description="failed authentications a minute per client address (429)"
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="accept bearer tokens (JWTs) from this OIDC issuer besides API keys",
    )
    oidc_audience: str = Field(default="caseweave", description="the `aud` tokens must hold")
    oidc_jwks_url: str | None = Field(
        default=None, description="the issuer's key set; unset: from its discovery document"
    )
    oidc_org_claim: str = Field(
        default="caseweave_org", description="claim naming the organisation"
    )
    oidc_role_claim: str = Field(default="caseweave_role", description="claim naming the role")
    organisations_file: Path | None = Field(
        default=None,
        description="TOML file of the place's organisations (id, name, sector, contact);"
        " unset: one per sector, named after it",
    )
    sharing_file: Path | None = Field(
        default=None,
        description="TOML file of the place's sharing rules; unset: default_sharing.toml",
    )
    break_glass_minutes: int = Field(
        default=60, ge=1, le=1440, description="how long a break-glass grant opens a record"
    )
    matching_file: Path | None = Field(
        default=None,
        description="TOML file of identity matching thresholds per place; unset: defaults",
    )
    sources_file: Path | None = Field(
        default=None,
        description="TOML file of the charities' systems that may push signed webhooks, each"
        " with its mapping; unset: none may",
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "CASEWEAVE_KAFKA_BOOTSTRAP_SERVERS"
        ),
        description="host:port[,host:port…] of the Kafka cluster; KAFKA_BOOTSTRAP_SERVERS wins",
    )
    kafka_partitions: int = Field(
        default=6, ge=1, description="partitions per topic; bounds consumer parallelism"
    )
    kafka_replication_factor: int = Field(default=3, ge=1, description="copies of each partition")
    kafka_retention_ms: int = Field(
        default=-1, ge=-1, description="topic retention; -1 keeps events forever, for replay"
    )
    kafka_min_insync_replicas: int = Field(
        default=2, ge=1, description="replicas that must have a write before acks=all succeeds"
    )

    kafka_dist_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "caseweave" / "kafka",
        description="where `caseweave kafka local` keeps Kafka's jars (fetched once)",
    )
    kafka_session_timeout_ms: int = Field(
        default=45_000,
        ge=1_000,
        description="how long a projection worker that vanished holds its partitions",
    )

    def kafka_transport_servers(self) -> str | None:
        """Return the Kafka bootstrap servers in Kafka mode, None in embedded mode."""
        if self.transport != "kafka":
            return None
        if not self.kafka_bootstrap_servers:
            raise ValueError("CASEWEAVE_TRANSPORT=kafka needs KAFKA_BOOTSTRAP_SERVERS")
        return self.kafka_bootstrap_servers

    def http_limits(self) -> HttpLimits:
        """Return the request size and rate limits every service applies."""
        return HttpLimits(
            max_request_bytes=self.max_request_bytes,
            rate_per_minute=self.rate_limit_per_minute,
            rate_burst=self.rate_limit_burst,
            auth_failures_per_minute=self.auth_failures_per_minute,
        )

    def oidc(self) -> OidcSettings | None:
        """Return which issuer's tokens the services accept, if any."""
        if self.oidc_issuer is None:
            return None
        return OidcSettings(
            issuer=self.oidc_issuer, audience=self.oidc_audience, jwks_url=self.oidc_jwks_url,
            org_claim=self.oidc_org_claim, role_claim=self.oidc_role_claim,
        )  # fmt: skip

    def port_of(self, service: Sector | Literal["projection"]) -> int:
        """Return the HTTP port a service listens on."""
        port: int = getattr(self, f"{service}_port")
        return port


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process's settings, read once from the environment."""
    return Settings()
