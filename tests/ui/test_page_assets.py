"""What the pages are made of: the vendored libraries are the npm registry's files, every
text has its English, and a first visit stays light."""

from __future__ import annotations

import contextlib

import httpx
from playwright.async_api import Browser, Page, Response
from playwright.async_api import Error as PlaywrightError
from ui_support import Browse, every_staff_page, sign_in

from crm_dev import i18n, vendor
from crm_dev.stack import Stack

FIRST_VISIT_BUDGET = 150_000
"""Bytes a first visit to a staff page may transfer (HTML, CSS, JS, fonts)."""
LATER_PAGE_BUDGET = 30_000
"""Bytes a later page may transfer (its HTML; the rest is cached)."""


def test_vendored_files_are_the_recorded_ones() -> None:
    assert vendor.check_files() == []


def test_every_text_of_the_pages_has_its_english() -> None:
    assert i18n.check() == []


async def test_every_staff_page_within_the_budget(
    browser: Browser, browse: Browse, api: httpx.AsyncClient, stack: Stack
) -> None:
    """A first visit (nothing cached) to each page, and a later one (its files cached)."""
    pages = await every_staff_page(api)
    signed = await browse()
    await sign_in(signed)
    state = await signed.context.storage_state()
    figures = []
    for path in pages.values():
        context = await browser.new_context(base_url=stack.gateway_url, storage_state=state)
        try:
            page = await context.new_page()
            first = await _transferred(page, path)
            later = await _transferred(page, path)
        finally:
            await context.close()
        figures.append((path, first, later))
    print("\npage | first visit | later visit (bytes)")
    for path, first, later in figures:
        print(f"{path} | {first:,} | {later:,}")
    assert all(first <= FIRST_VISIT_BUDGET for _, first, _ in figures), figures
    assert all(later <= LATER_PAGE_BUDGET for _, _, later in figures), figures


async def _transferred(page: Page, path: str) -> int:
    sizes: dict[str, int] = {}

    async def count(response: Response) -> None:
        with contextlib.suppress(PlaywrightError):
            transferred = await response.request.sizes()
            body, headers = transferred["responseBodySize"], transferred["responseHeadersSize"]
            sizes[response.url] = body + headers

    page.on("response", count)
    answer = await page.goto(path)
    assert answer is not None and answer.status == 200, (path, answer and answer.status)
    await page.wait_for_load_state("networkidle")
    page.remove_listener("response", count)
    return sum(sizes.values())


async def test_a_first_visit_stays_within_the_budget(browse: Browse) -> None:
    page = await browse()
    await sign_in(page)
    sizes: dict[str, int] = {}

    async def count(response: Response) -> None:
        # bytes on the wire, headers too (0 for what the browser's cache served)
        with contextlib.suppress(PlaywrightError):  # the page closed meanwhile
            transferred = await response.request.sizes()
            body, headers = transferred["responseBodySize"], transferred["responseHeadersSize"]
            sizes[response.url] = body + headers

    page.on("response", count)
    await page.context.clear_cookies()  # a first visit: nothing cached, sign in again
    await sign_in(page)
    await page.wait_for_load_state("networkidle")
    first = sum(sizes.values())
    assert 0 < first <= FIRST_VISIT_BUDGET, sizes
    # a later page: the CSS and JavaScript come from the browser's cache
    sizes.clear()
    await page.goto("/ui/contacts?q=Muster")
    await page.wait_for_load_state("networkidle")
    assert sum(size for url, size in sizes.items() if "/ui/static/" in url) == 0, sizes
    assert sum(sizes.values()) <= LATER_PAGE_BUDGET, sizes
