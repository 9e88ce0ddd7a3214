"""The chart runs: what its Deployments and Job would run, as local processes, with two
replicas of every service on the 3-broker Kafka cluster (fixture ``chart_deployment``,
tests/conftest.py), then the end-to-end flow through the balancer in front of both
gateway replicas."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crm_dev import helm
from crm_dev.chart_run import ADMIN_EMAIL, ADMIN_PASSWORD, ChartDeployment
from crm_dev.testkit import TopicTail, eventually
from crm_ops.kafka_access import group_reads
from crm_shared.lag import consumer_lag

SERVICES = ("contacts", "history", "interactions", "campaigns", "reminders", "notifier", "gateway")


def _data(event: Any) -> dict[str, Any]:
    data: dict[str, Any] = event.data if isinstance(event.data, dict) else event.data.model_dump()
    return data


def fresh_connections(base_url: str, **kwargs: Any) -> httpx.AsyncClient:
    """A client that opens a new connection per request, so the balancer hands
    consecutive requests to alternating replicas."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=30,
        limits=httpx.Limits(max_keepalive_connections=0),
        **kwargs,
    )


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def test_every_service_runs_two_replicas_each_ready_and_alive(
    chart_deployment: ChartDeployment,
) -> None:
    run = chart_deployment.run
    for name in SERVICES:
        pods = run.pods_of(name)
        assert len(pods) == 2, name
        for pod in pods:
            assert pod.process.argv == [f"crm-{name}"]
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                response = httpx.get(f"{pod.url}{pod.probe_path(probe)}", timeout=10)
                assert response.status_code == 200, (pod.process.name, probe, response.text)
            # the environment came from the chart: prod, migrations left to the Job
            assert pod.process.env["CRM_ENV"] == "prod"
            assert pod.process.env["CRM_MIGRATE_AT_START"] == "false"
    # the Job ran first and migrated every service's database
    for name in SERVICES:
        assert re.search(rf"^{name}: at \w+", chart_deployment.migration_output, flags=re.M)


async def _token_at(url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post(
            "/api/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


async def api_token_works_on_every_replica(chart: ChartDeployment, first: str, other: str) -> None:
    token = await _token_at(first)
    async with httpx.AsyncClient(base_url=other, timeout=30) as client:
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["email"] == ADMIN_EMAIL


def _login_token(body: str) -> str:
    found = re.search(r"/portal/login\?token=([\w\-.~%]+)", body)
    assert found, body
    return found.group(1)


async def portal_cookie_works_on_every_replica(
    chart: ChartDeployment, first: str, other: str
) -> None:
    token = await _token_at(first)
    email = f"portal-{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(
        base_url=first, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        created = await api.post(
            "/api/contacts", json={"kind": "person", "name": "Paula Portal", "email": email}
        )
        assert created.status_code == 201, created.text

    async def mailed() -> bool:  # the contact reaches the interactions copy by event
        async with httpx.AsyncClient(base_url=first, timeout=30) as browser:
            answer = await browser.post("/portal/api/login-link", json={"email": email})
            assert answer.status_code == 202
        return bool(chart.mail.wait_for(email, timeout=2))

    await eventually(mailed, "a portal login link mailed", timeout=20, every=0.2)
    [message, *_] = chart.mail.messages(email)
    link_token = _login_token(message.get_payload(decode=True).decode())
    async with httpx.AsyncClient(base_url=first, timeout=30) as browser:
        opened = await browser.get("/portal/api/session", params={"token": link_token})
        assert opened.status_code == 200, opened.text
        cookie = browser.cookies.get("crm_portal")
    assert cookie
    async with httpx.AsyncClient(base_url=other, timeout=30) as elsewhere:
        me = await elsewhere.get("/portal/api/me", cookies={"crm_portal": cookie})
        assert me.status_code == 200, me.text


async def staff_ui_session_works_on_every_replica(
    chart: ChartDeployment, first: str, other: str
) -> None:
    """Signed in through the login form at one replica, the session (in Redis) opens the
    pages at the other, and "Abmelden" there ends it at the first."""
    async with httpx.AsyncClient(base_url=first, timeout=30) as browser:
        form = await browser.get("/ui/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf, form.text
        signed = await browser.post(
            "/ui/login",
            data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf.group(1)},
        )
        assert signed.status_code == 303, signed.text
        cookies = {"crm_session": browser.cookies["crm_session"], "crm_csrf": csrf.group(1)}
    async with httpx.AsyncClient(base_url=other, timeout=30, cookies=cookies) as elsewhere:
        page = await elsewhere.get("/ui/contacts")
        assert page.status_code == 200 and "Abmelden" in page.text, page.status_code
        out = await elsewhere.post("/ui/logout", data={"csrf_token": cookies["crm_csrf"]})
        assert out.status_code == 303
    async with httpx.AsyncClient(base_url=first, timeout=30, cookies=cookies) as again:
        assert (await again.get("/ui/contacts")).headers.get("location", "").startswith("/ui/login")


SESSION_CHECKS: list[Callable[[ChartDeployment, str, str], Awaitable[None]]] = [
    api_token_works_on_every_replica,
    portal_cookie_works_on_every_replica,
    staff_ui_session_works_on_every_replica,
]
"""Each signs in at one gateway replica and uses the session at the other."""


@pytest.mark.parametrize("check", SESSION_CHECKS, ids=lambda check: check.__name__)
async def test_sessions_work_across_gateway_replicas(
    chart_deployment: ChartDeployment, check: Callable[[ChartDeployment, str, str], Awaitable[None]]
) -> None:
    first, other = (pod.url for pod in chart_deployment.run.pods_of("gateway"))
    await check(chart_deployment, first, other)
    await check(chart_deployment, other, first)


async def test_the_flow_through_the_balancer_mails_once_and_fires_a_reminder_once(
    chart_deployment: ChartDeployment,
) -> None:
    chart, mail = chart_deployment, chart_deployment.mail
    balancer = chart.run.balancers["crm-gateway"]
    before = dict(balancer.connections)
    token = await _token_at(chart.gateway_url)
    async with fresh_connections(
        chart.gateway_url, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        email = f"kunde-{uuid.uuid4().hex[:10]}@example.com"
        contact = await api.post(
            "/api/contacts", json={"kind": "person", "name": "Erika Cluster", "email": email}
        )
        assert contact.status_code == 201, contact.text
        contact_id = contact.json()["id"]

        async def logged() -> httpx.Response | None:  # the copy arrives by event
            response = await api.post(
                "/api/interactions",
                json={"contact_id": contact_id, "topic": "Cluster", "kind": "incoming",
                      "text": "Bitte zurückrufen"},
            )  # fmt: skip
            return response if response.status_code == 201 else None

        await eventually(logged, "the interaction accepted", timeout=20, every=0.2)
        [message] = mail.wait_for(email, timeout=15)
        assert "Cluster" in message["Subject"]
        assert len(mail.wait_for(email, count=2, timeout=3)) == 1  # exactly one

        subject = f"Callback {uuid.uuid4().hex[:6]}"  # ASCII: found in the raw Subject
        staff_email = f"petra-{uuid.uuid4().hex[:6]}@crm.local.test"
        staff = await api.post(
            "/api/staff",
            json={"username": f"petra-{uuid.uuid4().hex[:6]}", "password": "geheim-123",
                  "name": "Petra Vertrieb", "initials": "PV", "email": staff_email,
                  "roles": ["crm_user"]},
        )  # fmt: skip
        assert staff.status_code == 201, staff.text
        starts = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)

        async def planned_once() -> httpx.Response | None:  # the staff copy arrives by event
            response = await api.post(
                "/api/procedures",
                json={"contact_id": contact_id, "type": "call", "direction": "outgoing",
                      "state": "planned", "starts_at": starts.isoformat(),
                      "duration_minutes": 0, "reminder": True, "subject": subject,
                      "responsible_id": staff.json()["id"]},
            )  # fmt: skip
            return response if response.status_code == 201 else None

        async def reminded() -> list[Any]:
            return [m for m in mail.messages(staff_email) if subject in str(m["Subject"])]

        def both_stages(events: list[Any]) -> bool:
            return len([e for e in events if e.name == "ReminderDue"]) >= 2

        async with TopicTail(chart.kafka.bootstrap, "crm.reminders") as reminders:
            await eventually(planned_once, "the procedure accepted", timeout=20, every=0.2)
            # the email stage at once (lead time 24 h), the due stage at starts_at
            await eventually(reminded, "the reminder mail", timeout=30, every=0.2)
            await reminders.collect(both_stages, timeout=30)
            await _sleep(3)  # two reminders replicas: nothing fires a second time
            await reminders.collect(lambda _: False, timeout=1)
            fired = reminders.named("ReminderDue", subject=subject)
        assert sorted(_data(e)["stage"] for _, e in fired) == ["due", "email"]
        assert len(await reminded()) == 1  # one reminder mail
    # both gateway replicas answered through the balancer
    assert all(balancer.connections[p] > before[p] for p in balancer.backends)


async def test_a_mailing_over_a_filter_reaches_exactly_the_contacts_it_selects(
    chart_deployment: ChartDeployment,
) -> None:
    """The history service asks the contacts service over HTTP which contacts a selection
    holds (CRM_HISTORY_CONTACTS_URL from the chart's ConfigMap, through the contacts
    Service): a mailing over a filter, through the balancer, ends done with its count,
    and each selected contact gets one mail."""
    chart, mail = chart_deployment, chart_deployment.mail
    token = await _token_at(chart.gateway_url)
    tag = f"Rundschreiben {uuid.uuid4().hex[:8]}"  # ASCII: found in the raw Subject
    async with fresh_connections(
        chart.gateway_url, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        emails = []
        for i in range(3):
            email = f"mailing-{i}-{uuid.uuid4().hex[:8]}@example.com"
            created = await api.post(
                "/api/contacts", json={"kind": "person", "name": f"{tag} {i}", "email": email}
            )
            assert created.status_code == 201, created.text
            emails.append(email)
        body = {"selection": {"filter": {"q": tag}}, "subject": tag, "body": "Hallo {{ name }}"}
        answers: list[httpx.Response] = []

        async def accepted() -> httpx.Response | None:  # 503: the copies arrive by event
            answers.append(await api.post("/api/history/mailings", json=body))
            return answers[-1] if answers[-1].status_code != 503 else None

        started = await eventually(accepted, "the mailing accepted", timeout=30, every=0.2)
        assert started.status_code == 202, answers[-1].text

        async def finished() -> dict[str, Any] | None:
            job: dict[str, Any] = (await api.get(f"/api/jobs/{started.json()['job_id']}")).json()
            return job if job["state"] != "running" else None

        job = await eventually(finished, "the mailing finished", timeout=60, every=0.2)
    assert (job["state"], job["total"], job["done"], job["skipped"]) == ("done", 3, 3, 0), job
    for email in emails:
        [message] = mail.wait_for(email, timeout=20)
        assert tag in str(message["Subject"])
    await _sleep(2)  # two notifier replicas: nothing is mailed a second time
    assert [len(mail.messages(email)) for email in emails] == [1, 1, 1]


async def test_every_consumer_group_of_the_chart_catches_up(
    chart_deployment: ChartDeployment,
) -> None:
    reads = await group_reads()

    async def caught_up() -> bool:
        lags = await consumer_lag(chart_deployment.kafka.bootstrap, reads=reads)
        return bool(lags) and all(lag.lag == 0 for lag in lags)

    try:
        await eventually(caught_up, "every consumer group caught up", timeout=30, every=0.2)
    except AssertionError:
        behind = await consumer_lag(chart_deployment.kafka.bootstrap, reads=reads)
        raise AssertionError(f"behind: {[lag for lag in behind if lag.lag]}") from None
    topics = helm.by_kind(chart_deployment.objects, "KafkaTopic")
    assert {t["spec"]["replicas"] for t in topics.values()} == {3}


async def test_one_trace_follows_an_interaction_from_http_to_the_smtp_send(
    chart_deployment: ChartDeployment,
) -> None:
    """tracing.enabled in the values: the pods export by OTLP; the context crosses Kafka
    in the CloudEvent's traceparent."""
    chart = chart_deployment
    token = await _token_at(chart.gateway_url)
    email = f"trace-{uuid.uuid4().hex[:10]}@example.com"
    async with fresh_connections(
        chart.gateway_url, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        contact = await api.post(
            "/api/contacts", json={"kind": "person", "name": "Tracy Trace", "email": email}
        )
        assert contact.status_code == 201, contact.text

        async def logged() -> bool:
            response = await api.post(
                "/api/interactions",
                json={"contact_id": contact.json()["id"], "topic": "Trace", "kind": "incoming",
                      "text": "-"},
            )  # fmt: skip
            return response.status_code == 201

        await eventually(logged, "the interaction accepted", timeout=20, every=0.2)
    assert chart.mail.wait_for(email, timeout=15)

    wanted = {
        ("crm-interactions", "crm.interactions publish"),  # the outbox
        ("crm-notifier", "crm.interactions process"),  # the consumer
        ("crm-notifier", "smtp send"),
    }

    def chain_of(spans: list[Any]) -> list[Any]:
        """From the SMTP send up its parents, as far as they have arrived."""
        by_id = {s.span_id: s for s in spans}
        chain = [next(s for s in spans if s.name == "smtp send")]
        while chain[-1].parent_id in by_id:
            chain.append(by_id[chain[-1].parent_id])
        return chain

    async def traced() -> list[Any]:  # each process exports its spans in batches
        sends = [
            s for s in chart.traces.spans
            if s.name == "smtp send" and s.attributes.get("crm.recipient") == email
        ]  # fmt: skip
        if not sends:
            return []
        spans = chart.traces.trace(sends[0].trace_id)
        complete = wanted <= {(s.service, s.name) for s in spans}
        return spans if complete and chain_of(spans)[-1].service == "crm-gateway" else []

    try:
        spans = await eventually(traced, "a whole trace gateway → SMTP", timeout=30, every=0.2)
    except AssertionError:
        spans = []
    found = chart.traces.trace(spans[0].trace_id) if spans else []
    # smtp send ← process ← publish ← the interactions' HTTP span ← … ← the gateway's
    assert spans, f"no whole trace gateway → SMTP: {[(s.service, s.name) for s in found]}"
    services = [s.service for s in chain_of(spans)]
    assert services[0] == "crm-notifier" and "crm-interactions" in services
