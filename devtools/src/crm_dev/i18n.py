"""The pages' message catalogue: extract the texts, update the English catalogue, check it.

German texts are the message ids (the seeds' labels);
``crm_gateway/ui/locale/en/LC_MESSAGES/messages.po`` holds their English.
``python -m crm_dev.i18n`` (``make i18n``) extracts every text from the gateway's
templates and page code (``services/gateway/babel.cfg``) into ``messages.pot`` and merges
it into the English catalogue, keeping what is translated; then fill in the empty
``msgstr``s. ``--check`` changes nothing and fails when a text of the pages has no
English translation or the catalogue holds texts the pages no longer use.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[3]
GATEWAY = ROOT / "services" / "gateway"
CONFIG = GATEWAY / "babel.cfg"
LOCALE = GATEWAY / "src" / "crm_gateway" / "ui" / "locale"
TEMPLATE = LOCALE / "messages.pot"
ENGLISH = LOCALE / "en" / "LC_MESSAGES" / "messages.po"


def extract(target: Path) -> Catalog:
    """Every text of the pages, as a catalogue template written to ``target`` (paths in
    it are relative to the gateway's folder, so the file is the same on every machine)."""
    here = Path.cwd()
    os.chdir(GATEWAY)
    try:
        _run_extract(target)
    finally:
        os.chdir(here)
    with target.open("rb") as handle:
        return read_po(handle)


def _run_extract(target: Path) -> None:
    CommandLineInterface().run(  # type: ignore[no-untyped-call]
        [
            "pybabel",
            "-q",
            "extract",
            "-F",
            CONFIG.name,
            "--add-location=file",
            "--sort-output",
            "--project=crm-gateway",
            "--copyright-holder=CRM contributors",
            "--omit-header",
            "-k",
            "ngettext:1,2",
            "-o",
            str(target),
            ".",
        ]
    )


def english() -> Catalog:
    with ENGLISH.open("rb") as handle:
        return read_po(handle, locale="en")


def problems(template: Catalog, catalogue: Catalog) -> list[str]:
    """Texts without English, and English for texts the pages no longer have."""
    found = []
    used = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    for message in catalogue:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if key not in used:
            found.append(f"not used by any page any more: {key!r}")
        elif message.fuzzy or not all(strings):
            found.append(f"no English yet: {key!r}")
    have = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue if m.id}
    found += [f"not in the catalogue: {key!r}" for key in sorted(used - have)]
    return found


def update() -> list[str]:
    template = extract(TEMPLATE)
    catalogue = english()
    catalogue.update(template, no_fuzzy_matching=True)
    catalogue.obsolete.clear()
    with ENGLISH.open("wb") as handle:
        write_po(handle, catalogue, sort_output=True, include_previous=False, width=100)
    return problems(template, catalogue)


def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        return problems(extract(Path(tmp) / "messages.pot"), english())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; fail on gaps")
    args = parser.parse_args()
    found = check() if args.check else update()
    for line in found:
        print(line, file=sys.stderr)
    print(f"{len(found)} text(s) need attention" if found else "the catalogue is complete")
    sys.exit(1 if found and args.check else 0)


if __name__ == "__main__":
    main()
