"""Issue 17: a bulk entry's page pauses and resumes the job ("Pausieren", "Fortsetzen"),
shows the state it is in, and the API says the same."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect
from ui_support import Browse, create_contact, sign_in, tag

from crm_dev.stack import Stack

# batches of five, two seconds apart: the job runs long enough to be paused by a click
SLOW_JOBS = {"CRM_HISTORY_JOB_BATCH_SIZE": "5", "CRM_HISTORY_FAULT_JOB_PAUSE_SECONDS": "2"}


def restart_history(stack: Stack, env: dict[str, str] | None = None) -> None:
    stack.kill("history")
    stack.start("history", env).wait_ready(90)


async def job(api: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await api.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_a_job_is_paused_and_resumed_from_its_page(
    browse: Browse, api: httpx.AsyncClient, stack: Stack
) -> None:
    word = tag()
    ids = [(await create_contact(api, name=f"Pause {word} {n:02d}"))["id"] for n in range(30)]
    page = await browse()
    await sign_in(page)  # the admin, who starts the job below
    restart_history(stack, SLOW_JOBS)
    try:
        started = await api.post(
            "/api/history/bulk",
            json={"selection": {"contact_ids": ids}, "entry": {"text": f"Pause {word}"}},
        )
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        await page.goto(f"/ui/jobs/{job_id}")
        await expect(page.get_by_role("heading", name="Läuft …")).to_be_visible()

        await page.get_by_role("button", name="Pausieren").click()
        await expect(page.get_by_role("heading", name="Pausiert")).to_be_visible()
        await expect(page.get_by_role("button", name="Pausieren")).to_have_count(0)
        resume = page.get_by_role("button", name="Fortsetzen")
        await expect(resume).to_be_visible()
        paused = await job(api, job_id)
        assert paused["state"] == "paused"
        assert paused["done"] < 30
        # the English catalogue says the same
        await page.goto(f"/ui/jobs/{job_id}?lang=en")
        await expect(page.get_by_role("heading", name="Paused")).to_be_visible()
        await expect(page.get_by_role("button", name="Resume")).to_be_visible()
        await page.goto(f"/ui/jobs/{job_id}?lang=de")
        assert (await job(api, job_id))["done"] == paused["done"]  # nothing moved

        # by keyboard: the real button in its form takes Enter
        await resume.focus()
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("button", name="Pausieren")).to_be_visible()
        assert (await job(api, job_id))["state"] == "running"
        await expect(page.get_by_role("heading", name="Fertig")).to_be_visible(timeout=60_000)
        await expect(page.get_by_text("30 von 30 Kontakten")).to_be_visible()
    finally:
        restart_history(stack)
    done = await job(api, job_id)
    assert (done["state"], done["total"], done["done"]) == ("done", 30, 30)
