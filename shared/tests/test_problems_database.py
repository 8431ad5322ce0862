"""Database errors on real PostgreSQL: a NUL in any text is a 422 (PostgreSQL cannot store it), and
no database error's log line carries the statement's values (they are people's data)."""

import logging

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import BaseModel

from tremplin_shared.db import make_engine
from tremplin_shared.problems import install_problem_handlers


class Person(BaseModel):
    name: str


async def test_a_nul_is_422_and_a_failing_statement_logs_no_values(postgres, caplog):
    engine = make_engine(await postgres.create("problems_db"))
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE people (name text PRIMARY KEY)"))
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/people", status_code=201)
    async def add(body: Person):
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO people VALUES (:name)"), {"name": body.name})

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            nul = await client.post("/people", json={"name": "Camille\u0000Martin"})
            assert nul.status_code == 422 and nul.headers["content-type"] == "application/problem+json"
            assert nul.json()["errors"] == [{"field": "-", "in": "body", "message": "must not contain a NUL character"}]
            assert "Camille" not in nul.text
            assert (await client.post("/people", json={"name": "Camille Martin"})).status_code == 201
            with caplog.at_level(logging.ERROR):
                twice = await client.post("/people", json={"name": "Camille Martin"})  # a unique violation
            assert twice.status_code == 500 and "Camille" not in twice.text
            logged = "\n".join(
                f"{r.getMessage()} {getattr(r, 'fields', '')} {r.exc_text or ''}" for r in caplog.records
            )
            assert "unhandled database error" in logged and "constraint people_pkey" in logged
            assert "Camille" not in logged
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT count(*) FROM people"))).scalar_one() == 1
    finally:
        await engine.dispose()
