"""Every staff page and the portal on a 360 px wide phone: the page does not scroll
sideways and every link, button and field can be reached."""

from __future__ import annotations

import httpx
from ui_support import PHONE, Browse, actions_off_the_screen, every_staff_page, settled, sign_in


async def test_every_page_fits_a_phone(browse: Browse, api: httpx.AsyncClient) -> None:
    pages = await every_staff_page(api)
    page = await browse(viewport=PHONE)
    problems: list[str] = []
    await page.goto("/portal/")
    problems += [f"portal: {what}" for what in await actions_off_the_screen(page)]
    await sign_in(page)
    for what, path in pages.items():
        answer = await page.goto(path)
        assert answer is not None and answer.status == 200, (what, answer and answer.status)
        await settled(page)
        width = await page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            problems.append(f"{what}: the page is {width}px wide")
        problems += [f"{what}: {action}" for action in await actions_off_the_screen(page)]
    assert not problems, "\n".join(problems)
