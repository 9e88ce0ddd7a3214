"""The campaigns service: ``create_app(settings)``.

Only the runtime so far (health, readiness, metrics, Kafka); its features come with
issue #4.
"""

from __future__ import annotations

from fastapi import FastAPI

from crm_campaigns.settings import Settings
from crm_shared.service import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(settings, title="CRM campaigns")
