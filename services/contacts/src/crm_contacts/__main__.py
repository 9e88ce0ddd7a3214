"""``python -m crm_contacts`` / ``crm-contacts``: run the service."""

from crm_contacts.main import create_app
from crm_contacts.settings import Settings
from crm_shared.service import serve


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
