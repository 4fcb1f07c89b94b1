"""The voluntary sector service: engagement, key work, food and benefits support.

One microservice serving every organisation of the sector the place lists, built from the
shared organisation service code.
"""

from typing import Final

from fastapi import FastAPI

from events.organisations import Sector
from services.organisation.bootstrap import sector_app_from_settings
from services.runtime.settings import Settings

SECTOR: Final[Sector] = "voluntary"


def create_app(settings: Settings) -> FastAPI:
    """Return this service's HTTP app, configured by the process settings."""
    return sector_app_from_settings(SECTOR, settings)
