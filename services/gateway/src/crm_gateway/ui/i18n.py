"""German and English for the pages: Babel catalogues and the language of a request.

The message ids are the German texts (the seeds' own labels), so German needs no
catalogue; English comes from ``locale/en/LC_MESSAGES/messages.po``, compiled in memory
at start (no build step). ``make i18n`` extracts the ids from the templates and code and
updates the catalogue; a test fails when a text has no English translation.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.requests import Request

Language = Literal["de", "en"]
LANGUAGES: tuple[Language, ...] = ("de", "en")
DEFAULT: Language = "de"
LOCALE_DIR = Path(__file__).parent / "locale"
CATALOGUE = LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po"
LANGUAGE_COOKIE = "crm_lang"


@cache
def translations(language: Language) -> gettext.NullTranslations:
    """The translations of one language (German: the message ids themselves)."""
    if language == "de":
        return gettext.NullTranslations()
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled)


def as_language(value: object) -> Language | None:
    """``value`` if it names a language of the pages."""
    for language in LANGUAGES:
        if value == language:
            return language
    return None


def request_language(request: Request, preferred: object = None) -> Language:
    """The language of the page: ``?lang=``, else the remembered switch, else the staff
    member's own language (``preferred``), else German."""
    return (
        as_language(request.query_params.get("lang"))
        or as_language(request.cookies.get(LANGUAGE_COOKIE))
        or as_language(preferred)
        or DEFAULT
    )


def gettext_for(language: Language) -> Callable[[str], str]:
    """``_`` of one language, for texts built in Python (flash messages, errors)."""
    return translations(language).gettext
