"""``python -m crm_notifier`` / ``crm-contacts``: run the service."""

from crm_notifier.main import create_app
from crm_notifier.settings import Settings
from crm_shared.service import serve


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
