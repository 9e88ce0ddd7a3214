"""Signing in and out, the session cookie, and what protects the pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from playwright.async_api import expect
from ui_support import ADMIN_PASSWORD, Browse, fits_the_screen, sign_in

from crm_dev.stack import Stack


async def test_sign_in_and_out(browse: Browse, viewport: dict[str, int]) -> None:
    page = await browse(viewport=viewport)
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/ui/login"))
    await expect(page.locator("html")).to_have_attribute("lang", "de")

    await page.get_by_label("Benutzername").fill("admin")
    await page.get_by_label("Passwort").fill("falsch")
    await page.get_by_role("button", name="Anmelden").click()
    await expect(page.get_by_role("alert")).to_have_text("Benutzername oder Passwort ist falsch.")
    # what was typed stays (but not the password)
    await expect(page.get_by_label("Benutzername")).to_have_value("admin")
    await expect(page.get_by_label("Passwort")).to_have_value("")

    await page.get_by_label("Passwort").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Anmelden").click()
    await expect(page.get_by_role("heading", name="Kontakte", level=1)).to_be_visible()
    await fits_the_screen(page)

    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["crm_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"

    await page.get_by_role("button", name="Abmelden").click()
    await expect(page).to_have_url(re.compile(r"/ui/login"))
    # the session is revoked, not only forgotten by this browser: the old cookie is dead
    await page.context.add_cookies([{**session, "expires": -1}])
    await page.goto("/ui/contacts")
    await expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Fcontacts"))


async def test_a_lost_session_returns_to_where_the_user_was(browse: Browse, stack: Stack) -> None:
    page = await browse()
    await sign_in(page)
    await page.goto("/ui/contacts?q=Muster")
    await page.context.clear_cookies(name="crm_session")  # the session expired meanwhile
    await page.get_by_label("Suche").fill("Mustermann")
    await page.get_by_role("button", name="Suchen").click()
    await expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    await page.get_by_label("Benutzername").fill("admin")
    await page.get_by_label("Passwort").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Anmelden").click()
    await expect(page).to_have_url(re.compile(r"/ui/contacts\?q=Mustermann"))
    await expect(page.get_by_label("Suche")).to_have_value("Mustermann")


async def test_only_crm_staff_get_in(browse: Browse, make_staff) -> None:  # type: ignore[no-untyped-def]
    outsider = await make_staff(roles=())
    page = await browse()
    await page.goto("/ui/login")
    await page.get_by_label("Benutzername").fill(outsider.username)
    await page.get_by_label("Passwort").fill(outsider.password)
    await page.get_by_role("button", name="Anmelden").click()
    await expect(page.get_by_role("alert")).to_have_text("Ihr Konto hat keinen Zugang zum CRM.")
    assert "crm_session" not in {c["name"] for c in await page.context.cookies()}


@contextmanager
def _signed_in_client(stack: Stack) -> Iterator[httpx.Client]:
    """A client that signed in through the login form, as a browser does."""
    with httpx.Client(base_url=stack.gateway_url, follow_redirects=False) as client:
        login_page = client.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text)
        assert token
        answer = client.post(
            "/ui/login",
            data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token.group(1)},
        )
        assert answer.status_code == 303, answer.text
        yield client


def test_pages_send_a_strict_content_security_policy(stack: Stack) -> None:
    with _signed_in_client(stack) as client:
        for path in ("/ui/login", "/ui/contacts", "/portal/"):
            response = client.get(path)
            assert response.status_code == 200, path
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy
            assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
            assert "frame-ancestors 'none'" in policy
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["cache-control"] == "no-store"
            # no inline script or handler in what the pages send
            assert not re.search(r"<script>|<script [^>]*>[^<]|\son[a-z]+=", response.text)


def test_a_form_without_the_csrf_token_changes_nothing(stack: Stack) -> None:
    with _signed_in_client(stack) as client:
        before = client.get("/ui/contacts").text
        refused = client.post("/ui/contacts/create", data={"name": "Angreifer", "kind": "person"})
        assert refused.status_code == 403
        assert "Formular ist veraltet" in refused.text
        # the right token, but sent from another site: refused too
        token = client.cookies["crm_csrf"]
        cross_site = client.post(
            "/ui/contacts/create",
            data={"name": "Angreifer", "kind": "person", "csrf_token": token},
            headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        )
        assert cross_site.status_code == 403
        assert client.get("/ui/contacts").text.count("Angreifer") == before.count("Angreifer")


def test_sign_in_goes_back_to_this_site_only(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway_url, follow_redirects=False) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text)
        assert token
        for target in ("https://evil.example/", "//evil.example/x", "/ui/contacts?q=x"):
            answer = client.post(
                "/ui/login",
                data={
                    "username": "admin",
                    "password": ADMIN_PASSWORD,
                    "csrf_token": token.group(1),
                    "next": target,
                },
            )
            expected = target if target.startswith("/ui/") else "/ui/contacts"
            assert answer.headers["location"] == expected, target


def test_the_browser_session_reads_the_api_but_cannot_change_it(stack: Stack) -> None:
    with _signed_in_client(stack) as client:
        assert client.get("/api/contacts").status_code == 200
        assert client.get("/api/contacts/export").status_code == 200
        # a change needs the bearer token: the cookie alone is never enough
        assert client.post("/api/contacts", json={"kind": "person", "name": "X"}).status_code == 401
    with httpx.Client(base_url=stack.gateway_url) as anonymous:
        assert anonymous.get("/api/contacts").status_code == 401
