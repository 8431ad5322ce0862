"""What the access log keeps of a request: the path without what could be personal data in it, the
caller's request id only when it looks like one."""

import logging
import uuid

import httpx
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from tremplin_shared.http import REDACTED_SEGMENT, RequestIdMiddleware, accepted_request_id, path_for_logs


def test_ids_and_literals_stay_personal_data_goes():
    pid = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
    assert path_for_logs(f"/api/v1/participants/{pid}/steps") == f"/api/v1/participants/{pid}/steps"
    assert path_for_logs("/api/v1/clauses/reports/2026-06") == "/api/v1/clauses/reports/2026-06"
    assert path_for_logs("/api/v1/participants/1850578006084") == "/api/v1/participants/{redacted}"
    assert path_for_logs("/api/v1/funding/x/FR7630006000011234567890189") == "/api/v1/funding/x/{redacted}"
    assert path_for_logs("/a/jean@example.org/b") == "/a/{redacted}/b"
    assert path_for_logs("/a/jean%40example.org") == "/a/{redacted}"


@given(st.text(st.characters(codec="utf-8", exclude_characters="/"), min_size=1).filter(lambda s: "/" not in s))
def test_a_segment_with_six_digits_in_a_row_never_survives(prefix):
    for digits in ("123456", "2850578006084"):
        logged = path_for_logs(f"/api/v1/participants/{prefix}{digits}")
        assert digits not in logged and logged.endswith(REDACTED_SEGMENT)


def test_a_request_id_is_kept_only_when_it_looks_like_one():
    assert accepted_request_id("req-42") == "req-42"
    assert accepted_request_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") != ""
    for bad in ("Camille Martin", "x" * 129, "", "a\nb", 'a"b', "é"):
        replaced = accepted_request_id(bad)
        assert replaced != bad and accepted_request_id(replaced) == replaced


async def test_the_access_log_line(caplog):
    app = FastAPI()

    @app.get("/people/{key}")
    async def read(key: str) -> dict:
        return {}

    transport = httpx.ASGITransport(app=RequestIdMiddleware(app))
    with caplog.at_level(logging.INFO, logger="tremplin.access"):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            kept = await client.get("/people/abc", headers={"X-Request-ID": "r-1"})
            replaced = await client.get("/people/1850578006084", headers={"X-Request-ID": "Camille Martin"})
    assert kept.headers["x-request-id"] == "r-1"
    assert replaced.headers["x-request-id"] != "Camille Martin"
    lines = [r.fields for r in caplog.records if r.name == "tremplin.access"]
    assert [line["path"] for line in lines] == ["/people/abc", "/people/{redacted}"]
