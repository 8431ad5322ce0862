"""`tremplin participants import`: checks, line-numbered error report, all-or-nothing vs valid-rows,
events in the outbox, and the time for 10 000 rows on SQLite and PostgreSQL (printed, not asserted)."""

import asyncio
import csv
import json
import random
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from stdnum.fr import nir as stdnum_nir
from typer.testing import CliRunner

from tremplin_cli.main import app
from tremplin_participants.adapters.orm import participants
from tremplin_shared.db import make_engine
from tremplin_shared.events import ParticipantProfileChangedV1, ParticipantRegisteredV1
from tremplin_shared.messaging.tables import outbox

runner = CliRunner()
HEADER = ["first_name", "last_name", "birth_date", "sex", "nir", "email", "address_line", "commune_insee", "latitude",
          "longitude", "rsa", "unemployed_since", "education_level", "consent_matching", "skills"]  # fmt: skip


def make_nir(body: str) -> str:
    return body + stdnum_nir.calc_check_digits(body)


NIR_A = make_nir("1840341018123")
NIR_B = make_nir("2910775056042")


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER, delimiter: str = ",", bom=False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def tremplin(url: str, *args: str):
    return runner.invoke(app, ["participants", "import", *args, "--database-url", url], env={"COLUMNS": "200"})


async def counts(url: str, tenant: str = "loir-et-cher") -> tuple[int, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            people = (
                await conn.execute(
                    sa.select(sa.func.count()).select_from(participants).where(participants.c.tenant == tenant)
                )
            ).scalar()
            events = (await conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar()
    finally:
        await engine.dispose()
    return people, events


def row(first="Camille", last="Martin", birth="1984-03-12", sex="F", nir="", email="", address="", commune="41018",
        lat="47.5861", lon="1.3359", rsa="false", since="", education="", consent="true",
        skills="K2204|N1103"):  # fmt: skip
    return [first, last, birth, sex, nir, email, address, commune, lat, lon, rsa, since, education, consent, skills]


def mixed_file(path: Path) -> Path:
    """Valid and invalid rows; the comment on each is the line it starts on in the file."""
    path.write_text("", encoding="utf-8")
    rows = [
        row(nir=NIR_A),  # line 2: valid
        row(first="Paul", sex="X"),  # line 3: sex
        row(first="Jeanne", nir=NIR_B[:13] + "00"),  # line 4: NIR control key
        row(first="Luc", address="3 rue Porte Côté\nBâtiment B", rsa="oui"),  # lines 5-6: valid, two lines
        row(first="Anne", nir=NIR_A),  # line 7: the same NIR as line 2
        row(first="Inès", skills="K2204|cuisine"),  # line 8: skills.1
        row(first="Noé", birth="2999-01-01"),  # line 9: birth_date in the future
        row(first="Léa", lat="ninety"),  # line 10: latitude
        row(first="Zoé", nir=NIR_B),  # line 11: valid
    ]
    write_csv(path, rows)
    return path


EXPECTED_ERRORS = [("3", "sex"), ("4", "nir"), ("7", "nir"), ("8", "skills.1"), ("9", "birth_date"), ("10", "latitude")]


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'var' / 'participants.db'}"


async def test_all_or_nothing_writes_nothing_and_reports_every_bad_line(tmp_path, sqlite_url):
    file = mixed_file(tmp_path / "people.csv")
    result = await asyncio.to_thread(tremplin, sqlite_url, str(file), "--tenant", "loir-et-cher")
    assert result.exit_code == 1, result.output
    assert "6 error(s)" in result.output and "Nothing written" in result.output
    assert "the same NIR as line 2" in result.output
    report = list(csv.reader((tmp_path / "people.errors.csv").open(encoding="utf-8")))
    assert report[0] == ["line", "field", "message"]
    assert [(line, field) for line, field, _ in report[1:]] == EXPECTED_ERRORS
    for text in (result.output, (tmp_path / "people.errors.csv").read_text()):
        assert NIR_A not in text and NIR_B not in text and NIR_B[:13] not in text
    assert await counts(sqlite_url) == (0, 0)


@pytest.fixture(params=["sqlite", "postgres"])
async def any_url(request, sqlite_url, postgres) -> str:
    """SQLite (the embedded default) and PostgreSQL (its bulk writes send the rows as arrays)."""
    return sqlite_url if request.param == "sqlite" else await postgres.create("import")


async def test_valid_rows_writes_the_valid_rows_with_their_events(tmp_path, any_url):
    file = mixed_file(tmp_path / "people.csv")
    result = await asyncio.to_thread(tremplin, any_url, str(file), "--tenant", "loir-et-cher", "--valid-rows")
    assert result.exit_code == 1, result.output  # some rows were refused
    assert "Imported 3 of 9 rows" in result.output
    assert await counts(any_url) == (3, 6)
    engine = make_engine(any_url)
    try:
        async with engine.connect() as conn:
            people = {r.first_name: r for r in await conn.execute(sa.select(participants))}
            events = (await conn.execute(sa.select(outbox.c.event_type, outbox.c.key, outbox.c.value,
                                                   outbox.c.tenant).order_by(outbox.c.seq))).all()  # fmt: skip
    finally:
        await engine.dispose()
    assert set(people) == {"Camille", "Luc", "Zoé"}
    assert people["Luc"].address_line == "3 rue Porte Côté\nBâtiment B" and people["Luc"].rsa is True
    assert (
        people["Camille"].nir_hash and people["Luc"].nir_hash is None and people["Camille"].skills == ["K2204", "N1103"]
    )
    assert people["Camille"].search_name == "martin camille"
    # per participant: registered then profile_changed, keyed by the participant, in the tenant
    assert [e.event_type for e in events] == [ParticipantRegisteredV1.ce_type, ParticipantProfileChangedV1.ce_type] * 3
    assert {e.key for e in events} == {str(p.id) for p in people.values()} and {e.tenant for e in events} == {
        "loir-et-cher"
    }
    for event in events:
        data = json.loads(event.value)
        assert "Camille" not in event.value and "Martin" not in event.value and NIR_A not in event.value
        if event.event_type == ParticipantProfileChangedV1.ce_type:
            assert ParticipantProfileChangedV1.model_validate(data).active is False

    # the same file again: the NIRs now exist in the tenant, which the report says
    again = await asyncio.to_thread(tremplin, any_url, str(file), "--tenant", "loir-et-cher", "--valid-rows")
    report = list(csv.reader((tmp_path / "people.errors.csv").open(encoding="utf-8")))
    exists = [(line, field) for line, field, message in report[1:] if "already exists" in message]
    assert exists == [("2", "nir"), ("11", "nir")]
    assert "Imported 1 of 9 rows" in again.output  # only Luc (no NIR) again
    # another tenant may import the same NIRs
    other = await asyncio.to_thread(tremplin, any_url, str(file), "--tenant", "indre", "--valid-rows")
    assert "Imported 3 of 9 rows" in other.output


async def test_a_spreadsheet_export_with_semicolons_bom_and_french_formats(tmp_path, sqlite_url):
    header = ["first_name", "last_name", "birth_date", "sex", "latitude", "longitude", "rsa", "qpv", "skills"]
    rows = [["Hélène", "Dupré", "12/03/1984", "F", "47,5861", "1,3359", "oui", "non", "K2204;N1103"]]
    file = write_csv(tmp_path / "export.csv", rows, header, delimiter=";", bom=True)
    (tmp_path / "export.errors.csv").write_text("stale")
    result = await asyncio.to_thread(tremplin, sqlite_url, str(file), "--tenant", "loir-et-cher")
    assert result.exit_code == 0, result.output
    assert "Imported 1 of 1 rows" in result.output
    assert not (tmp_path / "export.errors.csv").exists()
    engine = make_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            person = (await conn.execute(sa.select(participants))).one()
    finally:
        await engine.dispose()
    assert (person.first_name, person.birth_date, person.latitude) == ("Hélène", date(1984, 3, 12), 47.5861)
    assert (person.rsa, person.qpv, person.skills) == (True, False, ["K2204", "N1103"])


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            ["first_name", "last_name", "birth_date", "sex", "latitude", "longitude", "salary"],
            "unknown columns: salary",
        ),
        (["first_name", "last_name", "sex", "latitude", "longitude"], "missing required columns: birth_date"),
        # a file without its header row: its first person is not printed back (a NIR, a birth date)
        (
            ["Camille", "Martin", "12/03/1984", "F", "184037512345690", "47.58", "1.33"],
            "unknown columns: column 1, column 2, column 3, column 4, column 5, column 6, column 7",
        ),
    ],
)
async def test_a_file_with_wrong_columns_is_refused_as_a_whole(tmp_path, sqlite_url, header, message):
    file = write_csv(tmp_path / "bad.csv", [["x"] * len(header)], header)
    result = await asyncio.to_thread(tremplin, sqlite_url, str(file), "--tenant", "loir-et-cher")
    assert result.exit_code == 2 and message in result.output


# --------------------------------------------------------------------------------------------- timing
COMMUNES = [("41018", 47.5861, 1.3359), ("41269", 47.3597, 1.7425), ("41194", 47.7930, 1.0656),
            ("41242", 47.4005, 1.2226), ("41149", 47.5833, 1.2000)]  # fmt: skip
FIRST = ["Camille", "Léa", "Hugo", "Chloé", "Lucas", "Inès", "Nathan", "Manon", "Théo", "Sarah"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
EDUCATION = ["", "below_cap", "cap_bep", "bac", "bac_plus_2", "bac_plus_3_or_more"]


def big_file(path: Path, n: int) -> Path:
    rng = random.Random(41)
    rows = []
    for i in range(n):
        commune, lat, lon = rng.choice(COMMUNES)
        born = date(1960, 1, 1) + timedelta(days=rng.randrange(16000))
        sex = rng.choice("FM")
        nir = make_nir(f"{1 if sex == 'M' else 2}{born:%y%m}41{i % 1000:03d}{i // 1000 + 1:03d}")
        since = "" if rng.random() < 0.3 else (date(2026, 1, 1) - timedelta(days=rng.randrange(1500))).isoformat()
        rows.append(row(first=rng.choice(FIRST), last=rng.choice(LAST), birth=born.isoformat(), sex=sex, nir=nir,
                        email=f"p{i}@example.org", address=f"{i} rue de la Paix", commune=commune,
                        lat=f"{lat + rng.uniform(-0.01, 0.01):.5f}", lon=f"{lon + rng.uniform(-0.01, 0.01):.5f}",
                        rsa=rng.choice(["true", "false"]), since=since, education=rng.choice(EDUCATION),
                        consent=rng.choice(["true", "false"]),
                        skills="|".join(rng.sample(["K2204", "N1103", "F1703", "A1203", "G1603"], 2))))  # fmt: skip
    return write_csv(path, rows)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_ten_thousand_rows_timing(tmp_path, postgres, backend, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'big.db'}" if backend == "sqlite" else await postgres.create("import")
    file = big_file(tmp_path / "big.csv", 10_000)
    started = time.perf_counter()
    result = await asyncio.to_thread(tremplin, url, str(file), "--tenant", "loir-et-cher")
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output[-2000:]
    assert await counts(url) == (10_000, 20_000)
    summary = next(line for line in result.output.splitlines() if line.startswith("Imported"))
    with capsys.disabled():
        print(f"\n[import timing] {backend}: 10 000 rows, {elapsed:.2f} s wall (with migrations) — {summary}")
