"""Write a new Alembic revision for a service by comparing its models with its migrations.

    uv run python -m crm_dev.migrate contacts -m "add number ranges"

It builds a scratch SQLite database at the current head, autogenerates the difference
and writes a dated file into ``services/<name>/src/crm_<name>/migrations/versions``.
Read the generated file before committing it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import shutil
import tempfile
from pathlib import Path

from alembic import command

from crm_shared.db import Database
from crm_shared.migrations import alembic_config, upgrade

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = Path(__file__).parent / "migration_template" / "script.py.mako"


def scaffold(service: str) -> Path:
    """Create the migrations folder of a service if it has none; returns it."""
    folder = ROOT / "services" / service / "src" / f"crm_{service}" / "migrations"
    (folder / "versions").mkdir(parents=True, exist_ok=True)
    shutil.copy(TEMPLATE, folder / "script.py.mako")
    env = folder / "env.py"
    if not env.exists():
        env.write_text(
            f'"""Alembic environment of the {service} service."""\n\n'
            "from sqlmodel import SQLModel\n\n"
            f"import crm_{service}.models  # noqa: F401 - registers the tables\n"
            "import crm_shared.consumer  # noqa: F401 - processed_event\n"
            "import crm_shared.outbox  # noqa: F401 - outbox_message\n"
            "from crm_shared.migrations import run_env\n\n"
            "run_env(SQLModel.metadata)\n"
        )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service")
    parser.add_argument("-m", "--message", required=True)
    args = parser.parse_args()
    folder = scaffold(args.service)
    importlib.import_module(f"crm_{args.service}.models")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/scratch.db"
        db = Database(url)
        asyncio.run(upgrade(db, folder))
        asyncio.run(db.dispose())
        command.revision(alembic_config(folder, url), message=args.message, autogenerate=True)


if __name__ == "__main__":
    main()
