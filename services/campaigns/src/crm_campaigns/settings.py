"""Settings of the campaigns service (``CRM_CAMPAIGNS_*`` plus the system ``CRM_*``)."""

from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_CAMPAIGNS_", extra="ignore")

    service_name: str = "campaigns"
    port: int = 8004
    # How often the dashboard's totals fold in the changes written since (PostgreSQL;
    # the dashboard is exact in between, it only reads a few more rows).
    dashboard_fold_seconds: float = 2.0
