"""The mental health service: referrals, assessments, crisis care and discharge.

One microservice, built from the shared organisation service code for this organisation.
"""

from typing import Final

from fastapi import FastAPI

from events.envelope import OrgId
from services.organisation.bootstrap import organisation_app_from_settings
from services.runtime.settings import Settings

ORG: Final[OrgId] = "mental_health"


def create_app(settings: Settings) -> FastAPI:
    """Return this service's HTTP app, configured by the process settings."""
    return organisation_app_from_settings(ORG, settings)
