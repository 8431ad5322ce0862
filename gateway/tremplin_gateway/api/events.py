"""`POST /api/v1/events`: CloudEvents in structured JSON, one or a batch, from an integration.

Valid events are staged in the gateway's outbox in one transaction and the relay produces them
to `inbound.france-travail` with the caller's tenant; a duplicate (same tenant, source and id)
is accepted and not produced again. Invalid ones are answered with their errors and not produced.
One event: 202 or 422. A batch: 202 when every event is accepted, 422 when none is, 207 otherwise.
"""

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.dialects import postgresql, sqlite

from tremplin_shared.events.contracts import INBOUND_FRANCE_TRAVAIL_TOPIC
from tremplin_shared.log import current_request_id
from tremplin_shared.messaging.outbox import mark_staged, outbox_row
from tremplin_shared.messaging.tables import outbox
from tremplin_shared.problems import Unprocessable, problem_response

from ..auth import Caller
from ..domain.intake import MAX_BATCH, check, inbound_types, parse_batch

router = APIRouter(prefix="/api/v1/events", tags=["events"])

ACCEPTED_CONTENT_TYPES = ("application/cloudevents+json", "application/cloudevents-batch+json", "application/json")


@router.post(
    "",
    status_code=202,
    summary="Send CloudEvents (structured JSON): one, or a batch as a JSON array",
    description="Accepted types: " + ", ".join(sorted(inbound_types())),
    responses={207: {"description": "Some events accepted, some not"}, 422: {"description": "None accepted"}},
)
async def intake(request: Request, caller: Caller) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_CONTENT_TYPES:
        raise Unprocessable(f"Content-Type must be one of {', '.join(ACCEPTED_CONTENT_TYPES)}.")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise Unprocessable("The body is not JSON.") from None
    except RecursionError:  # "[" × 100000: deeper than the parser goes
        raise Unprocessable("The body is JSON nested too deeply.") from None
    raws, is_batch = parse_batch(body)
    if not raws or len(raws) > MAX_BATCH:
        raise Unprocessable(f"A batch holds 1 to {MAX_BATCH} events.")
    checked = [check(i, raw, caller.tenant, current_request_id()) for i, raw in enumerate(raws)]
    valid = [c for c in checked if c.event is not None]

    fresh: set[str] = set()
    if valid:
        async with request.app.state.sessionmaker() as session:
            dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
            rows = {c.event.id: outbox_row(c.event, INBOUND_FRANCE_TRAVAIL_TOPIC) for c in valid}
            stmt = (
                dialect.insert(outbox).on_conflict_do_nothing(index_elements=["event_id"]).returning(outbox.c.event_id)
            )
            fresh = set((await session.execute(stmt, list(rows.values()))).scalars())
            mark_staged(session)  # the commit wakes the relay
            await session.commit()

    results = []
    for c in checked:
        if c.event is None:
            results.append({"index": c.index, "id": c.id, "status": "rejected", "errors": c.errors})
        elif c.event.id in fresh:
            fresh.discard(c.event.id)  # the same event twice in one batch: the second is a duplicate
            results.append({"index": c.index, "id": c.id, "status": "accepted", "event_id": c.event.id})
        else:
            results.append({"index": c.index, "id": c.id, "status": "duplicate", "event_id": c.event.id})
    counts = {
        "accepted": sum(r["status"] == "accepted" for r in results),
        "duplicates": sum(r["status"] == "duplicate" for r in results),
        "rejected": sum(r["status"] == "rejected" for r in results),
    }
    if counts["rejected"] == len(results):
        detail = "The event is invalid." if not is_batch else "No event of the batch is valid."
        if not is_batch:
            return problem_response(422, "Unprocessable Content", detail, errors=results[0]["errors"], results=results)
        return problem_response(422, "Unprocessable Content", detail, results=results, **counts)
    status = 207 if counts["rejected"] else 202
    return JSONResponse({"results": results, **counts}, status_code=status)
