"""Secrets a process needs: from settings in production, made once under data_dir in development."""

import os
import secrets
from pathlib import Path

from services.runtime.person_keys import PersonKeys
from services.runtime.settings import Settings


def citizen_id_secret(settings: Settings) -> bytes:
    """Return the secret that keys citizen ids (so ids are stable across replays, not guessable)."""
    if settings.id_secret:
        return settings.id_secret.encode()
    return _made_once(settings.data_dir / "id_secret").encode()


def person_keys_master_key(settings: Settings) -> bytes:
    """Return the master key that wraps each person's data key (32 bytes)."""
    return bytes.fromhex(settings.master_key or _made_once(settings.data_dir / "master_key"))


def person_keys(settings: Settings) -> PersonKeys:
    """Return the people's data keys, wrapped by the configured master key."""
    return PersonKeys(person_keys_master_key(settings))


def _made_once(path: Path) -> str:
    """Return a development secret kept in `path` (32 random bytes as hex), made if missing.

    Processes starting together (`caseweave up` starts every service at once) agree on one
    secret: each writes its own candidate to a file of its own, then links it into place,
    which only the first can do (a link never replaces a file); the others read the winner's,
    whole, since it was written before it was linked."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        candidate.write_text(secrets.token_hex(32))
        candidate.chmod(0o600)
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass  # another process made it first: theirs is the secret
        finally:
            candidate.unlink()
    return path.read_text().strip()
