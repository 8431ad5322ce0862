"""The hypothesis property through the API (SQLite): any sequence of transition requests, legal or
not, leaves the parcours in a state the machine allows, with a stored log that replays to it — and
every answer is the one the hand-written table of DOMAIN.md predicts."""

import asyncio
import contextlib
from datetime import timedelta

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tremplin_participants.config import Settings
from tremplin_participants.domain.flags import today
from tremplin_participants.domain.parcours import EXIT_KINDS, Transition, replay
from tremplin_participants.main import create_app
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

# DOMAIN.md's table again, by hand (not the code's TRANSITIONS): from → allowed targets.
ALL_STATES = ["oriented", "welcomed", "diagnosed", "supported", "immersion", "training", "employed", "exited"]
TABLE = {
    "oriented": {"welcomed", "exited"},
    "welcomed": {"diagnosed", "exited"},
    "diagnosed": {"supported", "exited"},
    "supported": {"immersion", "training", "employed", "exited"},
    "immersion": {"supported", "training", "employed", "exited"},
    "training": {"supported", "employed", "exited"},
    "employed": {"supported", "exited"},
    "exited": set(),
}
EXPECTED = {(a, b) for a, targets in TABLE.items() for b in targets}

PERSON = {"first_name": "Alex", "last_name": "Durand", "birth_date": "1990-05-01", "sex": "M",
          "latitude": 47.59, "longitude": 1.33}  # fmt: skip
BASE = today() - timedelta(days=1000)

# A step is a pick among the moves the table allows from wherever the parcours is (so that long
# walks through the machine happen), or any state at all (mostly refused), or any state with the
# exit kind wrongly given or missing; with a day offset from the last accepted move (negative: too early).
steps_strategy = st.lists(
    st.tuples(
        st.sampled_from(["legal", "legal", "any", "any", "wrong_kind"]),
        st.integers(min_value=0, max_value=7),
        st.sampled_from(ALL_STATES),
        st.integers(min_value=-2, max_value=30),
        st.sampled_from(EXIT_KINDS),
    ),
    min_size=4,
    max_size=20,
)


def resolve(state: str, mode: str, index: int, any_state: str, kind: str) -> tuple[str, str | None]:
    """(to, exit_kind): legal picks and `any` give the kind iff exiting; `wrong_kind` the other way round."""
    targets = sorted(TABLE[state] - {"exited"})  # a legal pick rarely exits, so that walks go deep
    if mode != "legal" or not TABLE[state]:
        to = any_state
    else:
        to = "exited" if index == 7 or not targets else targets[index % len(targets)]
    return to, kind if (to == "exited") != (mode == "wrong_kind") else None


async def scenario(client: httpx.AsyncClient, headers: dict, steps: list) -> None:
    person = await client.post("/api/v1/participants", json=PERSON, headers=headers)
    pid = person.json()["id"]
    opened = await client.post(f"/api/v1/participants/{pid}/parcours", headers=headers,
                               json={"programme": "plie", "oriented_at": BASE.isoformat()})  # fmt: skip
    parcours_id = opened.json()["id"]
    state, last = "oriented", BASE
    for mode, index, any_state, days, kind in steps:
        to, exit_kind = resolve(state, mode, index, any_state, kind)
        at = last + timedelta(days=days)
        body = {"to": to, "at": at.isoformat()} | ({"exit_kind": exit_kind} if exit_kind else {})
        response = await client.post(f"/api/v1/parcours/{parcours_id}/transitions", json=body, headers=headers)
        kind_ok = (exit_kind is not None) == (to == "exited")
        legal = (state, to) in EXPECTED
        if not kind_ok:
            assert response.status_code == 422, response.text
            assert [e["field"] for e in response.json()["errors"]] == ["exit_kind"]
        elif not legal:
            assert response.status_code == 409, response.text
            assert response.json()["allowed"] == [s for s in ALL_STATES if (state, s) in EXPECTED]
        elif days < 0:
            assert response.status_code == 422, response.text
            assert [e["field"] for e in response.json()["errors"]] == ["at"]
        else:
            assert response.status_code == 201, response.text
            state, last = to, at
    current = (await client.get(f"/api/v1/parcours/{parcours_id}", headers=headers)).json()
    assert current["state"] == state
    assert current["allowed_targets"] == [s for s in ALL_STATES if (state, s) in EXPECTED]
    log = [Transition(t["from_state"], t["to_state"], t["at"], t["actor"]) for t in current["transitions"]]
    assert replay(log) == current["state"]
    assert (current["exit_kind"] is not None) == (state == "exited")


def test_any_sequence_of_requests_through_the_api_keeps_the_machine(tmp_path):
    loop = asyncio.new_event_loop()
    stack = contextlib.AsyncExitStack()
    try:
        settings_ = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/p.db", run_background_workers=False)
        app = create_app(settings_)

        async def start() -> httpx.AsyncClient:
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://p"))

        client = loop.run_until_complete(start())

        @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(steps=steps_strategy)
        def run(steps):
            # Identity headers are signed with a time: re-sign per example so a long run stays valid.
            fresh = {IDENTITY_HEADER: sign_identity(Identity("t", "prop", ("referent",)), settings_.identity_secret)}
            loop.run_until_complete(scenario(client, fresh, steps))

        run()
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()
