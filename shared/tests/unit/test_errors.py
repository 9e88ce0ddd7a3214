"""problem+json errors (RFC 9457) rendered by install_problem_handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc

from crm_shared.errors import (
    PROBLEM_JSON,
    Conflict,
    NotFound,
    Problem,
    Unprocessable,
    install_problem_handlers,
)
from crm_shared.fields import PlainText


class Address(BaseModel):
    city: str
    zip: str = Field(pattern=r"^\d{5}$")


class NewContact(BaseModel):
    name: str = Field(min_length=1)
    age: int
    address: Address


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/contacts/{contact_id}")
    async def get_contact(contact_id: str) -> dict[str, str]:
        raise NotFound("contact", contact_id)

    @app.put("/contacts/{contact_id}")
    async def put_contact(contact_id: str) -> dict[str, str]:
        raise Conflict("contact was changed meanwhile", current_version=7)

    @app.post("/contacts/{contact_id}/email")
    async def set_email(contact_id: str) -> dict[str, str]:
        raise Unprocessable("email", "not a valid address")

    @app.get("/teapot")
    async def teapot() -> dict[str, str]:
        raise Problem(
            418,
            "short and stout",
            errors=[{"field": "brew", "message": "coffee"}],
            headers={"Retry-After": "120"},
            instance="/teapot/1",
        )

    @app.get("/titled")
    async def titled() -> dict[str, str]:
        raise Problem(403, "only admins", title="Not yours")

    @app.get("/http-error")
    async def http_error() -> dict[str, str]:
        raise HTTPException(status_code=401, detail="who are you", headers={"X-Why": "test"})

    @app.post("/contacts")
    async def create(contact: NewContact, limit: int = Query(ge=1)) -> dict[str, str]:
        return {"name": contact.name}

    @app.get("/crash")
    async def crash() -> dict[str, str]:
        raise RuntimeError("password=hunter2 leaked in a stack trace")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: Starlette re-raises a crash after sending the 500, as a
    # server would log it; the client must see the response the server sent.
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str)
    return body


async def test_not_found(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/contacts/c-42"), 404)
    assert body["title"] == "Not Found"
    assert body["detail"] == "contact c-42 not found"
    assert "errors" not in body


async def test_conflict_carries_extra_members(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.put("/contacts/c-1"), 409)
    assert body["title"] == "Conflict"
    assert body["detail"] == "contact was changed meanwhile"
    assert body["current_version"] == 7


async def test_unprocessable_names_the_field(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/contacts/c-1/email"), 422)
    assert body["title"] == "Validation failed"
    assert body["detail"] == "email: not a valid address"
    assert body["errors"] == [{"field": "email", "message": "not a valid address"}]


async def test_problem_with_errors_headers_and_extras(client: httpx.AsyncClient) -> None:
    response = await client.get("/teapot")
    body = assert_problem(response, 418)
    assert body["title"] == "I'm a Teapot"
    assert body["detail"] == "short and stout"
    assert body["errors"] == [{"field": "brew", "message": "coffee"}]
    assert body["instance"] == "/teapot/1"
    assert response.headers["retry-after"] == "120"


async def test_problem_with_its_own_title(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/titled"), 403)
    assert body["title"] == "Not yours"
    assert body["detail"] == "only admins"


async def test_http_exceptions_become_problems(client: httpx.AsyncClient) -> None:
    response = await client.get("/http-error")
    body = assert_problem(response, 401)
    assert body["detail"] == "who are you"
    assert response.headers["x-why"] == "test"


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nowhere"), 404)
    assert_problem(await client.delete("/teapot"), 405)


async def test_request_validation_lists_every_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/contacts?limit=0", json={"name": "", "age": "old", "address": {"zip": "12"}}
    )
    body = assert_problem(response, 422)
    assert body["title"] == "Validation failed"
    errors = body["errors"]
    assert isinstance(errors, list)
    fields = {error["field"] for error in errors}
    assert fields == {"limit", "name", "age", "address.city", "address.zip"}
    assert all(error["message"] for error in errors)
    kinds = {error["field"]: error["type"] for error in errors}
    assert kinds["address.city"] == "missing"
    assert kinds["limit"] == "greater_than_equal"
    detail = str(body["detail"])
    for field in fields:
        assert f"{field}: " in detail


async def test_missing_or_broken_body(client: httpx.AsyncClient) -> None:
    missing = assert_problem(await client.post("/contacts?limit=1"), 422)
    assert missing["errors"] == [{"field": "body", "message": "Field required", "type": "missing"}]

    broken = await client.post(
        "/contacts?limit=1", content=b"{oops", headers={"content-type": "application/json"}
    )
    body = assert_problem(broken, 422)
    assert body["errors"]


async def test_valid_request_is_untouched(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/contacts?limit=5",
        json={"name": "Ada", "age": 36, "address": {"city": "London", "zip": "12345"}},
    )
    assert response.status_code == 200
    assert response.json() == {"name": "Ada"}


async def test_unexpected_exception_is_a_500_problem_without_internals(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.get("/crash")
    body = assert_problem(response, 500)
    assert body["title"] == "Internal Server Error"
    assert "hunter2" not in response.text
    assert any("unhandled error on GET /crash" in r.getMessage() for r in caplog.records)


class Message(BaseModel):
    """Fields named like request locations (module level: the route must resolve it)."""

    header: str
    path: str
    body: str


async def test_fields_named_like_a_location_keep_their_name() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/messages")
    async def post_message(message: Message) -> dict[str, str]:
        return {}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        body = assert_problem(await http.post("/messages", json={}), 422)
    assert {e["field"] for e in body["errors"]} == {"header", "path", "body"}  # type: ignore[union-attr, index]


class _Refused(Exception):
    """What asyncpg raises for a NUL in a text parameter (through SQLAlchemy's adapter)."""

    sqlstate = "22021"


async def test_a_nul_the_database_refuses_is_a_422_not_a_500() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/lookup")
    async def lookup() -> dict[str, str]:
        raise sa_exc.DBAPIError("SELECT …", {}, _Refused("invalid byte sequence: 0x00"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/lookup")
    assert (answer.status_code, answer.headers["content-type"]) == (422, PROBLEM_JSON)
    assert "NUL" in answer.json()["detail"]


class Named(BaseModel):
    name: PlainText


async def test_a_control_character_is_named_in_words() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/named")
    async def named(body: Named) -> dict[str, str]:
        return {"name": body.name}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.post("/named", json={"name": "An\u0000na"})
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {
            "field": "name",
            "message": "must be one line without control characters",
            "type": "control_character",
        }
    ]
