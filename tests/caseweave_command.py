"""Running the `caseweave` command as a user does, in a process of its own (it configures
logging for the whole process), against a given Kafka and otherwise default Kafka settings."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

Run = subprocess.CompletedProcess[str]


def caseweave(*argv: str, bootstrap: str | None, **settings: str) -> Run:
    """Run `caseweave ARGV…` with KAFKA_BOOTSTRAP_SERVERS=`bootstrap` (unset if None), every
    other Kafka variable of this environment removed, and the variables in `settings`."""
    env = {name: value for name, value in os.environ.items() if "KAFKA" not in name.upper()}
    env.update(settings)
    if bootstrap is not None:
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    command = [sys.executable, "-m", "services.cli", *argv]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
