"""What every page handler gets: who is signed in, their API, their language, and the
answers a page gives when something is in the way (no session, an API problem)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlsplit

import httpx
from fastapi import Depends, FastAPI, Request
from starlette.responses import RedirectResponse, Response

from crm_gateway.sessions import COOKIE, SessionStore, StaffSession
from crm_gateway.ui.client import Api, ApiError, SessionExpired
from crm_gateway.ui.i18n import Language, gettext_for, request_language, translations
from crm_gateway.ui.security import csrf_token, set_csrf_cookie, verify_csrf
from crm_gateway.ui.templating import is_htmx, render

if TYPE_CHECKING:
    from crm_gateway.deps import GatewayDeps

log = logging.getLogger(__name__)
LOGIN = "/ui/login"
PORTAL_COOKIE = "crm_portal"


@dataclass
class Ui:
    """What the pages share in one gateway process."""

    client: httpx.AsyncClient
    sessions: SessionStore
    token_ttl_seconds: int
    secure_cookies: bool


def ui_of(request: Request) -> Ui:
    deps: GatewayDeps = request.app.state.deps
    return deps.ui


class LoginRequired(Exception):
    """No valid staff session: off to the login page, and back here afterwards."""


class CsrfRejected(Exception):
    """A form without this browser's CSRF token, or from another site."""


@dataclass
class Page:
    """One request of a page: the language, the CSRF token, and (staff) the session."""

    request: Request
    language: Language
    csrf: str
    api: Api
    staff: StaffSession | None = None
    session_id: str | None = None
    secure_cookies: bool = False
    flashes: list[dict[str, str]] = field(default_factory=list)

    def _(self, text: str) -> str:
        return translations(self.language).gettext(text)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return translations(self.language).ngettext(singular, plural, n)

    async def flash(self, message: str, kind: str = "ok") -> None:
        """Show ``message`` on the next page (after the redirect that follows a change)."""
        if self.session_id:
            await ui_of(self.request).sessions.push_flash(self.session_id, message, kind)
        else:
            self.flashes.append({"message": message, "kind": kind})

    def render(
        self,
        template: str,
        *,
        block: str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> Response:
        response = render(
            self.request,
            template,
            {"csrf": self.csrf, "staff": self.staff, "flashes": self.flashes, **context},
            language=self.language,
            block=block,
            status=status,
            headers=headers,
        )
        set_csrf_cookie(self.request, response, secure=self.secure_cookies)
        return response

    @property
    def htmx(self) -> bool:
        return is_htmx(self.request)


def safe_next(target: str | None) -> str:
    """Where to go after login: a path of this site only (no open redirect)."""
    if not target:
        return "/ui/contacts"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/ui/contacts"
    return target


def redirect(request: Request, url: str) -> Response:
    """A redirect a browser follows, also from an htmx request (``HX-Redirect``)."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def _csrf_checked(request: Request) -> None:
    try:
        await verify_csrf(request)
    except Exception as exc:
        raise CsrfRejected from exc


async def staff_page(request: Request) -> Page:
    """The signed-in staff member's page, or :class:`LoginRequired`."""
    ui = ui_of(request)
    session_id = request.cookies.get(COOKIE)
    staff = await ui.sessions.get(session_id)
    if staff is None or session_id is None:
        raise LoginRequired
    await _csrf_checked(request)
    page = Page(
        request=request,
        language=request_language(request, staff.language),
        csrf=csrf_token(request),
        api=Api(ui.client, token=staff.token),
        staff=staff,
        session_id=session_id,
        secure_cookies=ui.secure_cookies,
    )
    if request.method == "GET" and not is_htmx(request):
        page.flashes = await ui.sessions.pop_flashes(session_id)
    return page


async def public_page(request: Request) -> Page:
    """A page anyone may open (login, portal); the portal's cookie goes along."""
    ui = ui_of(request)
    await _csrf_checked(request)
    cookies = {PORTAL_COOKIE: c} if (c := request.cookies.get(PORTAL_COOKIE)) else {}
    return Page(
        request=request,
        language=request_language(request),
        csrf=csrf_token(request),
        api=Api(ui.client, cookies=cookies),
        secure_cookies=ui.secure_cookies,
    )


StaffPage = Annotated[Page, Depends(staff_page)]
PublicPage = Annotated[Page, Depends(public_page)]


def _login_url(request: Request) -> str:
    """The login page, then back here: the page asked for (every GET of the pages also
    answers as a whole page), or for a change, the page it was made on (htmx names it;
    a plain form's is its referrer, if on this site). ``expired=1`` when the browser had
    a session that is gone (ended on the server, or timed out)."""
    if request.method != "GET":
        here = request.headers.get("hx-current-url") or request.headers.get("referer", "")
        parts = urlsplit(here)
        same_site = not parts.netloc or parts.netloc == request.headers.get("host")
        back = parts.path + (f"?{parts.query}" if parts.query else "") if same_site else ""
    else:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    expired = "&expired=1" if request.cookies.get(COOKIE) else ""
    return f"{LOGIN}?next={quote(safe_next(back), safe='')}{expired}"


def _to_login(request: Request) -> Response:
    """Off to the login page; an htmx request also hears why (the event
    ``login-required``, so static/app.js keeps what was typed in the form)."""
    response = redirect(request, _login_url(request))
    if is_htmx(request):
        response.headers["HX-Trigger"] = "login-required"
    return response


SWAPPED_ERRORS = frozenset({400, 403, 404, 409, 422})
"""Error statuses whose answer htmx swaps in (static/app.js, ``htmx:beforeSwap``)."""


def _error_page(request: Request, status: int, message: str) -> Response:
    language = request_language(request)
    _ = gettext_for(language)
    if is_htmx(request):
        # the message goes to the page's message area; a status htmx would not swap (a
        # 5xx) is answered as 200, so the message shows all the same
        return render(
            request,
            "parts/flash.html",
            {"message": message, "kind": "error"},
            language=language,
            status=status if status in SWAPPED_ERRORS else 200,
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"},
        )
    return render(
        request,
        "error.html",
        {"message": message, "title": _("Fehler"), "staff": None, "csrf": "", "flashes": []},
        language=language,
        status=status,
    )


def problem_message(language: Language, problem: ApiError) -> str:
    """What to tell a person about an API problem no form field explains."""
    _ = gettext_for(language)
    if problem.status == 404:
        return _("Nicht gefunden: vielleicht wurde es gerade gelöscht.")
    if problem.status == 403:
        return _("Dafür fehlt Ihnen die Berechtigung.")
    if problem.status in (502, 503, 504):
        return _(
            "Ein Dienst ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal."
        )
    if problem.status >= 500:
        return _(
            "Etwas ist schiefgegangen; nichts wurde geändert. Bitte versuchen Sie es noch einmal."
        )
    return problem.detail


def install_page_errors(app: FastAPI) -> None:
    """How pages answer a missing session, a rejected form and an unhandled API problem."""

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> Response:
        return _to_login(request)

    @app.exception_handler(SessionExpired)
    async def _expired(request: Request, _: SessionExpired) -> Response:
        await ui_of(request).sessions.delete(request.cookies.get(COOKIE))
        return _to_login(request)

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, _: CsrfRejected) -> Response:
        _t = gettext_for(request_language(request))
        return _error_page(
            request, 403, _t("Das Formular ist veraltet. Bitte laden Sie die Seite neu.")
        )

    @app.exception_handler(ApiError)
    async def _problem(request: Request, problem: ApiError) -> Response:
        if problem.status >= 500:
            log.warning("page %s: API answered %s", request.url.path, problem)
        return _error_page(
            request, problem.status, problem_message(request_language(request), problem)
        )
