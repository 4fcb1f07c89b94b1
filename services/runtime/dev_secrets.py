"""Secrets a process needs: from settings in production, made once under data_dir in development."""

import secrets
from pathlib import Path

from services.runtime.settings import Settings


def citizen_id_secret(settings: Settings) -> bytes:
    """Return the secret that keys citizen ids (so ids are stable across replays, not guessable)."""
    if settings.id_secret:
        return settings.id_secret.encode()
    path: Path = settings.data_dir / "id_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()
