"""Staff tokens: issue, verify, and the FastAPI dependencies that guard the API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI

from crm_shared.auth import (
    AdminStaff,
    CurrentStaff,
    StaffClaims,
    Unauthorized,
    decode_token,
    issue_token,
)
from crm_shared.errors import PROBLEM_JSON, install_problem_handlers
from crm_shared.events import StaffRef
from crm_shared.settings import ServiceSettings

SECRET = "unit-test-secret-0123456789-abcdefghijklmnop"
OTHER_SECRET = "another-secret-0123456789-abcdefghijklmnopq"


def claims(**changes: object) -> StaffClaims:
    values: dict[str, object] = {
        "staff_id": "s-1",
        "username": "grace",
        "name": "Grace Hopper",
        "initials": "GH",
        "email": "grace@example.org",
        "roles": ["crm_user"],
        "language": "en",
    }
    values.update(changes)
    return StaffClaims.model_validate(values)


# --- tokens -------------------------------------------------------------------------------


def test_issue_and_decode_round_trip() -> None:
    original = claims(roles=["admin", "crm_user"])
    decoded = decode_token(issue_token(original, SECRET), SECRET)
    assert decoded == original
    assert decoded.is_admin and decoded.may_use_crm


def test_token_carries_subject_audience_and_expiry() -> None:
    token = issue_token(claims(), SECRET, ttl=timedelta(minutes=5))
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], audience="crm")
    assert payload["sub"] == "s-1"
    assert payload["aud"] == "crm"
    assert 299 <= payload["exp"] - payload["iat"] <= 301
    assert abs(payload["iat"] - datetime.now(UTC).timestamp()) < 5


def test_expired_token_is_a_401() -> None:
    token = issue_token(claims(), SECRET, ttl=timedelta(seconds=-1))
    with pytest.raises(Unauthorized) as caught:
        decode_token(token, SECRET)
    assert caught.value.status == 401
    assert caught.value.detail == "token expired"
    assert caught.value.headers == {"WWW-Authenticate": "Bearer"}


def test_a_verified_token_is_still_refused_once_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = issue_token(claims(), SECRET, ttl=timedelta(seconds=60))
    assert decode_token(token, SECRET).staff_id == "s-1"  # verified, and remembered
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthorized, match="token expired"):
        decode_token(token, SECRET)


def test_a_verified_token_is_checked_again_under_another_secret() -> None:
    token = issue_token(claims(), SECRET)
    decode_token(token, SECRET)
    with pytest.raises(Unauthorized, match="invalid token"):
        decode_token(token, OTHER_SECRET)


def test_token_signed_with_another_secret_is_a_401() -> None:
    token = issue_token(claims(), OTHER_SECRET)
    with pytest.raises(Unauthorized) as caught:
        decode_token(token, SECRET)
    assert caught.value.status == 401
    assert caught.value.detail == "invalid token"


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "",
        # right secret, wrong audience
        jwt.encode({"staff_id": "s", "aud": "other", "exp": 9999999999}, SECRET),
        # unsigned
        jwt.encode({"staff_id": "s", "aud": "crm"}, None, algorithm="none"),
    ],
    ids=["garbage", "empty", "audience", "alg-none"],
)
def test_invalid_tokens_are_a_401(token: str) -> None:
    with pytest.raises(Unauthorized, match="invalid token"):
        decode_token(token, SECRET)


def test_tampered_token_is_a_401() -> None:
    header, _payload, signature = issue_token(claims(), SECRET).split(".")
    forged = jwt.encode(
        {**claims(roles=["admin"]).model_dump(), "aud": "crm", "exp": 9999999999}, OTHER_SECRET
    )
    tampered = ".".join([header, forged.split(".")[1], signature])
    with pytest.raises(Unauthorized):
        decode_token(tampered, SECRET)


def test_claims_roles_and_reference() -> None:
    assert not claims(roles=[]).may_use_crm
    assert claims(roles=["crm_user"]).may_use_crm
    assert not claims(roles=["crm_user"]).is_admin
    assert claims(roles=["admin"]).may_use_crm
    assert claims().ref() == StaffRef(
        staff_id="s-1", name="Grace Hopper", initials="GH", email="grace@example.org"
    )


# --- the dependencies -------------------------------------------------------------------------


def make_app() -> FastAPI:
    app = FastAPI()
    app.state.settings = ServiceSettings(jwt_secret=SECRET)
    install_problem_handlers(app)

    @app.get("/me")
    async def me(staff: CurrentStaff) -> dict[str, str]:
        return {"staff_id": staff.staff_id, "name": staff.name}

    @app.get("/admin")
    async def admin(staff: AdminStaff) -> dict[str, str]:
        return {"staff_id": staff.staff_id}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert body["status"] == status
    return body


async def test_current_staff_accepts_a_valid_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers=bearer(issue_token(claims(), SECRET)))
    assert response.status_code == 200
    assert response.json() == {"staff_id": "s-1", "name": "Grace Hopper"}


async def test_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    token = issue_token(claims(), SECRET)
    response = await client.get("/me", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic Z3JhY2U6cHc="}],
    ids=["none", "empty-bearer", "basic"],
)
async def test_missing_bearer_token_is_a_401_with_challenge(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/me", headers=headers)
    body = problem(response, 401)
    assert body["detail"] == "missing bearer token"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_token_over_http(client: httpx.AsyncClient) -> None:
    token = issue_token(claims(), SECRET, ttl=timedelta(seconds=-1))
    response = await client.get("/me", headers=bearer(token))
    assert problem(response, 401)["detail"] == "token expired"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_token_of_another_secret_over_http(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers=bearer(issue_token(claims(), OTHER_SECRET)))
    assert problem(response, 401)["detail"] == "invalid token"


async def test_staff_without_a_crm_role_is_refused_with_403(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers=bearer(issue_token(claims(roles=[]), SECRET)))
    body = problem(response, 403)
    assert "crm_user" in str(body["detail"])


async def test_admin_route_needs_the_admin_role(client: httpx.AsyncClient) -> None:
    user = await client.get("/admin", headers=bearer(issue_token(claims(), SECRET)))
    assert problem(user, 403)["detail"] == "admin role required"

    admin = await client.get("/admin", headers=bearer(issue_token(claims(roles=["admin"]), SECRET)))
    assert admin.status_code == 200
    assert admin.json() == {"staff_id": "s-1"}


@pytest.mark.parametrize(
    "changes",
    [{"roles": ["superuser"]}, {"username": None}],
    ids=["unknown-role", "missing-username"],
)
async def test_signed_token_with_claims_that_do_not_fit_is_a_401(
    client: httpx.AsyncClient, changes: dict[str, object]
) -> None:
    payload = {**claims().model_dump(), "aud": "crm", "exp": 9999999999, **changes}
    payload = {k: v for k, v in payload.items() if v is not None}
    response = await client.get("/me", headers=bearer(jwt.encode(payload, SECRET)))
    assert problem(response, 401)["detail"] == "invalid token"
