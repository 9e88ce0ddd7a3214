"""``python -m crm_campaigns`` / ``crm-campaigns``: run the service."""

from crm_campaigns.main import create_app
from crm_campaigns.settings import Settings
from crm_shared.service import serve


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
