"""A real Caseweave service (`python -m services.cli run NAME`) in a subprocess, and its CLI."""

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from bench.read_model import MASTER_KEY
from services.cli.service_runner import ServiceName

_READY_WITHIN_SECONDS = 60
_STOP_WITHIN_SECONDS = 20


@asynccontextmanager
async def caseweave_service(
    name: ServiceName,
    database_url: str,
    *,
    id_secret: bytes,
    settings: dict[str, str] | None = None,
) -> AsyncIterator[str]:
    """Start service `name` on a free port (with these CASEWEAVE_* `settings` too), yield its
    base URL once ready, stop it."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="caseweave-bench-service-") as data_dir:
        log_path = Path(data_dir) / "service.log"
        env = {
            **_cli_env(database_url, data_dir=data_dir),
            "CASEWEAVE_ID_SECRET": id_secret.decode(),
            "CASEWEAVE_MASTER_KEY": MASTER_KEY.hex(),
            "CASEWEAVE_HOST": "127.0.0.1",
            f"CASEWEAVE_{name.upper()}_PORT": str(port),
            # clients measuring speed, not abusive ones: no rate limit in the way
            "CASEWEAVE_RATE_LIMIT_PER_MINUTE": "1000000",
            "CASEWEAVE_RATE_LIMIT_BURST": "100000",
            **(settings or {}),
        }
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.cli", "run", name,
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                base_url = f"http://127.0.0.1:{port}"
                await _until_ready(process, name, base_url, log_path)
                yield base_url
            finally:
                await _stop(process)


def _cli_env(database_url: str, *, data_dir: str) -> dict[str, str]:
    """Return the environment a caseweave command runs with: its database, quiet logs."""
    return {
        **os.environ,
        "CASEWEAVE_DATABASE_URL": database_url,
        "CASEWEAVE_DATA_DIR": data_dir,
        "CASEWEAVE_LOG_LEVEL": "WARNING",
    }


async def create_key(database_url: str, *, org: str, role: str) -> str:
    """Create an API key with `python -m services.cli keys create`; return it (its last word)."""
    with tempfile.TemporaryDirectory(prefix="caseweave-bench-cli-") as data_dir:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "keys", "create", "--org", org, "--role", role,
            env=_cli_env(database_url, data_dir=data_dir),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"`caseweave keys create` failed:\n{output.decode(errors='replace')}")
    return output.decode().split()[-1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _until_ready(
    process: asyncio.subprocess.Process, name: str, base_url: str, log: Path
) -> None:
    """Poll GET /health/ready until it answers 200; fail if the service exits or takes too long."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _READY_WITHIN_SECONDS
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while process.returncode is None and loop.time() < deadline:
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.1)
    status = "exited" if process.returncode is not None else "was not ready in time"
    raise RuntimeError(f"the {name} service {status}; its output ends:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, wait; kill if it does not stop in time."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), _STOP_WITHIN_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
