"""Which proxies' X-Forwarded-For the services believe: none unless configured."""

from fastapi import FastAPI

from services.cli.service_runner import uvicorn_config
from services.runtime.settings import Settings


def test_by_default_no_forwarding_header_is_believed() -> None:
    """Unconfigured, the client is whoever connected, even a local one naming someone else."""
    config = uvicorn_config(FastAPI(), Settings(), 8001)
    assert Settings().forwarded_allow_ips == ""
    assert config.proxy_headers is False


def test_the_configured_proxies_are_believed() -> None:
    settings = Settings(forwarded_allow_ips="10.0.0.5, 10.0.1.0/24")
    config = uvicorn_config(FastAPI(), settings, 8001)
    assert config.proxy_headers is True
    assert config.forwarded_allow_ips == "10.0.0.5, 10.0.1.0/24"
