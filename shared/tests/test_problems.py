import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field

from tremplin_shared.http import RequestIdMiddleware
from tremplin_shared.problems import Conflict, install_problem_handlers


class Body(BaseModel):
    name: str
    items: list[int] = Field(max_length=2)


def make_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestIdMiddleware)
    install_problem_handlers(app)

    @app.post("/things")
    async def create(body: Body):
        return body

    @app.post("/conflict")
    async def conflict():
        raise Conflict("cannot go there", allowed=["a", "b"])

    @app.get("/boom")
    async def boom():
        raise RuntimeError("secret detail")

    return app


async def call(method, path, **kwargs):
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, **kwargs)


async def test_validation_errors_are_422_problems_with_field_paths():
    response = await call("POST", "/things", json={"items": [1, "x"]})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"name", "items.1"}


async def test_domain_conflicts_carry_their_extra_members():
    response = await call("POST", "/conflict")
    assert response.status_code == 409
    assert response.json()["allowed"] == ["a", "b"]


async def test_unknown_route_is_a_404_problem_and_the_request_id_is_echoed():
    response = await call("GET", "/nope", headers={"X-Request-ID": "abc123"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "abc123"
    assert response.json()["request_id"] == "abc123"


async def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing():
    response = await call("GET", "/boom")
    assert response.status_code == 500
    assert "secret" not in response.text
