"""`tremplin clauses import-hours`: line-numbered errors (the cap across the file's rows and the
database's, placements, periods, lots), all-or-nothing, the error report, a clean sheet declared."""

import asyncio
import csv
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tremplin_clauses.adapters.orm import hours_entries
from tremplin_clauses.adapters.projection import HANDLERS
from tremplin_clauses.config import Settings
from tremplin_clauses.main import create_app
from tremplin_cli.main import app
from tremplin_shared.db import make_engine
from tremplin_shared.events import ParticipantFlags, ParticipantProfileChangedV1, new_event
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

runner = CliRunner()
TENANT = "loir-et-cher"
HEADER = ["market_reference", "lot_number", "lot_id", "participant_id", "month", "hours"]


def tremplin(url: str, *args: str):
    return runner.invoke(app, ["clauses", "import-hours", *args, "--database-url", url], env={"COLUMNS": "200"})


@pytest.fixture
async def ledger(tmp_path):
    """A market CD41-COL with lots 1 and 2 (2026), two people placed on both, one on neither."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'clauses.db'}"
    settings = Settings(database_url=url, run_background_workers=False)
    service = create_app(settings)
    headers = {IDENTITY_HEADER: sign_identity(Identity(TENANT, "t", ("facilitator",)), settings.identity_secret)}
    people = [uuid.uuid4() for _ in range(3)]
    async with service.router.lifespan_context(service):
        for pid in people:
            flags = ParticipantFlags(computed_on=date(2026, 1, 2), long_term_unemployed=True,
                                     very_long_term_unemployed=False, youth=False, senior=False, rsa=False, rqth=False,
                                     qpv=False, clause_eligible=True)  # fmt: skip
            data = ParticipantProfileChangedV1(participant_id=pid, changed_at=datetime.now(UTC), latitude=47.5,
                                               longitude=1.3, flags=flags, active=True)  # fmt: skip
            async with service.state.sessionmaker() as session, session.begin():
                await HANDLERS[data.ce_type](session, new_event(data, tenant=TENANT, source="/t"), data)
        transport = httpx.ASGITransport(app=service)
        async with httpx.AsyncClient(transport=transport, base_url="http://c", headers=headers) as client:
            lot = {"contractor": {"name": "Bâtiments du Loir", "siret": "73282932000074"}, "required_hours": "800",
                   "start_date": "2026-01-01", "end_date": "2026-12-31"}  # fmt: skip
            buyer = {"name": "CD41", "siret": "22410001600019", "kind": "public"}
            body = {"reference": "CD41-COL", "title": "Collège", "buyer": buyer,
                    "lots": [lot | {"number": 1, "title": "A"}, lot | {"number": 2, "title": "B"}]}  # fmt: skip
            market = await client.post("/api/v1/clauses/markets", json=body)
            assert market.status_code == 201, market.text
            lots = [lot["id"] for lot in market.json()["lots"]]
            for pid in people[:2]:
                for lot_id in lots:
                    placed = await client.post(f"/api/v1/clauses/lots/{lot_id}/placements", json={
                        "participant_id": str(pid), "mode": "direct_hire", "contract_type": "cdd",
                        "start_date": "2026-01-05"})  # fmt: skip
                    assert placed.status_code == 201, placed.text
            # 100 h already in the database for the first person in March, on lot 2.
            await client.post(f"/api/v1/clauses/lots/{lots[1]}/hours",
                              json={"participant_id": str(people[0]), "month": "2026-03", "hours": "100"})  # fmt: skip
    return url, lots, [str(p) for p in people]


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


async def count(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(sa.select(sa.func.count()).select_from(hours_entries))).scalar_one()
    finally:
        await engine.dispose()


async def test_errors_are_line_numbered_and_nothing_is_written(ledger, tmp_path):
    url, lots, (a, b, unplaced) = ledger
    file = write_csv(tmp_path / "heures-mars.csv", [
        ["CD41-COL", "1", "", a, "2026-03", "80"],  # line 2: ok (100 + 80 = 180)
        ["", "", lots[0], b, "2026-03", "151,67"],  # line 3: ok, by lot id, decimal comma
        ["CD41-COL", "1", "", a, "2026-03", "30.01"],  # line 4: 100 + 80 + 30.01 > 210
        ["CD41-COL", "2", "", unplaced, "2026-03", "10"],  # line 5: no placement
        ["CD41-COL", "2", "", b, "2027-01", "10"],  # line 6: outside the lot's period
        ["CD41-COL", "2", "", b, "2026-04", "beaucoup"],  # line 7: hours
        ["CD41-COL", "9", "", b, "2026-04", "10"],  # line 8: no lot 9
        ["CD41-COL", "2", "", b, "03/2026", "58.33"],  # line 9: ok, 151.67 + 58.33 = 210 exactly
    ])  # fmt: skip
    result = await asyncio.to_thread(tremplin, url, str(file), "--tenant", TENANT)
    assert result.exit_code == 1, result.output
    assert "5 error(s)" in result.output and "Nothing written" in result.output
    report = list(csv.reader((tmp_path / "heures-mars.errors.csv").open(encoding="utf-8")))
    assert report[0] == ["line", "field", "message"]
    assert [(line, field) for line, field, _ in report[1:]] == [
        ("4", "hours"), ("5", "participant_id"), ("6", "month"), ("7", "hours"), ("8", "lot_number"),
    ]  # fmt: skip
    cap = report[1][2]
    assert "210" in cap and "other entries" in cap and "100.00 h, declared" in cap and "80.00 h, declared" in cap
    assert await count(url) == 1  # only the entry made through the API before


async def test_a_clean_sheet_is_declared_whole(ledger, tmp_path):
    url, _, (a, b, _) = ledger
    (tmp_path / "heures.errors.csv").write_text("stale")
    file = write_csv(tmp_path / "heures.csv", [
        ["CD41-COL", "1", "", a, "2026-03", "110"],
        ["CD41-COL", "1", "", a, "2026-04", "151.67"],
        ["CD41-COL", "2", "", b, "2026-04", "35"],
    ], delimiter=";")  # fmt: skip
    result = await asyncio.to_thread(tremplin, url, str(file), "--tenant", TENANT, "--declared-by", "Bâtiments du Loir")
    assert result.exit_code == 0, result.output
    assert "Declared 3 entries (296.67 h) of 3 rows" in result.output
    assert not (tmp_path / "heures.errors.csv").exists()
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(hours_entries.c.status, hours_entries.c.declared_by))).all()
    finally:
        await engine.dispose()
    assert sorted(rows) == [("declared", "Bâtiments du Loir")] * 3 + [("declared", "t")]


async def test_a_sheet_may_give_each_months_mode_and_contract(ledger, tmp_path):
    url, _, (a, _, _) = ledger
    file = tmp_path / "heures-modes.csv"
    file.write_text("market_reference,lot_number,participant_id,month,hours,mode,contract_type\n"
                    f"CD41-COL,1,{a},2026-03,110,,\n"  # the placement's
                    f"CD41-COL,1,{a},2026-04,100,temp_work_etti,interim\n"
                    f"CD41-COL,1,{a},2026-05,100,stage,interim\n", encoding="utf-8")  # fmt: skip
    result = await asyncio.to_thread(tremplin, url, str(file), "--tenant", TENANT)
    assert result.exit_code == 1 and "1 error(s)" in result.output, result.output
    report = list(csv.reader((tmp_path / "heures-modes.errors.csv").open(encoding="utf-8")))
    assert [(line, field) for line, field, _ in report[1:]] == [("4", "mode")]
    file.write_text("\n".join(file.read_text(encoding="utf-8").splitlines()[:3]) + "\n", encoding="utf-8")
    assert (await asyncio.to_thread(tremplin, url, str(file), "--tenant", TENANT)).exit_code == 0
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(hours_entries.c.month, hours_entries.c.mode,
                                                 hours_entries.c.contract_type)
                                       .order_by(hours_entries.c.month))).all()  # fmt: skip
    finally:
        await engine.dispose()
    placed = rows[0][1:]  # the entry made through the API before, with the placement's mode and contract
    assert [(f"{m:%Y-%m}", mode, ct) for m, mode, ct in rows[1:]] == [
        ("2026-03", *placed), ("2026-04", "temp_work_etti", "interim")]  # fmt: skip


async def test_another_territory_sees_no_lot_and_bad_headers_stop_early(ledger, tmp_path):
    url, lots, (a, _, _) = ledger
    file = write_csv(tmp_path / "h.csv", [["", "", lots[0], a, "2026-03", "10"]])
    result = await asyncio.to_thread(tremplin, url, str(file), "--tenant", "indre")
    assert result.exit_code == 1 and "no such lot" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("participant_id,month,heures\n")
    result = await asyncio.to_thread(tremplin, url, str(bad), "--tenant", TENANT)
    assert result.exit_code == 2 and "unknown columns: heures" in result.output
    assert await count(url) == 1
