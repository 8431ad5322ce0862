"""The demo territory's funding data, loaded through the gateway after the people (see demo.py).

An ETCLD fund (État, Département de Loir-et-Cher, Agglopolys) paying the CDE of two EBE (Blois and
Vendôme), a few EBE workers among the demo people, the run of last month: one disbursement per EBE.
The demo key prepared them, and the four-eyes rule wants another person to approve: when the gateway
lets the demo admin create a `funder` key (`POST /api/v1/admin/api-keys`), that funder approves the
first one, which goes into a SEPA payment batch (its pain.001 file is downloadable); the second waits
for a funder. A Département fund has the Boost Jeunes aid (125 € a month for at most 4 months) for the
youngest demo people: the same funder approves the payments of earlier months, which the demo marks
paid; last month's wait for a funder.
"""

import random
from datetime import date, timedelta

import httpx

SEED = 45
WEEKLY_HOURS = ["24", "26", "28", "30", "35", "35"]


def demo_iban(rng: random.Random, bank_code: str) -> str:
    """A valid French IBAN (the service checks it with schwifty): bank code, branch code, an 11-digit
    account number, the RIB key (97 − (89 × bank + 15 × branch + 3 × account) mod 97), then the ISO 13616
    check digits (98 − the mod 97 of the BBAN followed by FR00, letters as numbers)."""
    branch, account = f"{rng.randint(1, 99_999):05d}", f"{rng.randint(0, 10**11 - 1):011d}"
    rib_key = 97 - (89 * int(bank_code) + 15 * int(branch) + 3 * int(account)) % 97
    bban = f"{bank_code}{branch}{account}{rib_key:02d}"
    check = 98 - int(bban + "1527" + "00") % 97  # F = 15, R = 27
    return f"FR{check:02d}{bban}"


def _previous_month(today: date) -> str:
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def _age(person: dict, today: date) -> int:
    born = date.fromisoformat(person["birth_date"])
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def seed(client: httpx.Client, people: list[tuple[str, dict]], today: date) -> None:
    """Load the funding demo data; `people` are (participant id, the person posted) of the demo."""
    from .demo import demo_siret  # here, not at the top: demo.py imports this module

    rng = random.Random(SEED)
    years = [today.year - 1, today.year, today.year + 1]
    fund = client.post("/api/v1/funding/funds", json={
        "name": "Fonds d'expérimentation territoriale contre le chômage de longue durée — Loir-et-Cher",
        "kind": "etcld_cde",
        "payer": {"name": "ETCLD", "iban": demo_iban(rng, "30004")},
        "funders": [{"name": "État", "share": "60"}, {"name": "Département de Loir-et-Cher", "share": "25"},
                    {"name": "Communauté d'agglomération de Blois Agglopolys", "share": "15"}],
        "envelopes": [{"year": y, "amount": "1200000.00"} for y in years],
    })  # fmt: skip
    fund.raise_for_status()
    fund_id = fund.json()["id"]
    ebe = [("EBE Blois Nord — Entreprise à but d'emploi", "0.97"), ("EBE du Vendômois", "0.92")]
    convention_ids = []
    for name, rate in ebe:
        convention = client.post("/api/v1/funding/conventions", json={
            "fund_id": fund_id, "kind": "cde",
            "beneficiary": {"name": name, "siret": demo_siret(rng), "iban": demo_iban(rng, "20041")},
            "period": {"start": date(today.year - 1, 1, 1).isoformat()}, "cde_rate": rate,
        })  # fmt: skip
        convention.raise_for_status()
        convention_ids.append(convention.json()["id"])
    workers = people[: max(2, min(8, len(people) // 2))]
    for n, (participant_id, _person) in enumerate(workers):
        start = today - timedelta(days=rng.randint(45, 300))
        client.post(f"/api/v1/funding/conventions/{convention_ids[n % 2]}/workers", json={
            "participant_id": participant_id, "weekly_hours": rng.choice(WEEKLY_HOURS),
            "start_date": start.isoformat(),
        }).raise_for_status()  # fmt: skip
    period = _previous_month(today)
    client.post("/api/v1/funding/runs", json={"period": period}).raise_for_status()
    funder = _approve_and_batch(client, period)

    departement = client.post("/api/v1/funding/funds", json={
        "name": "Programme départemental d'insertion — Loir-et-Cher",
        "kind": "departement",
        "payer": {"name": "Département de Loir-et-Cher", "iban": demo_iban(rng, "30001")},
        "funders": [{"name": "Département de Loir-et-Cher", "share": "100"}],
        "envelopes": [{"year": y, "amount": "250000.00"} for y in years],
    })  # fmt: skip
    departement.raise_for_status()
    scheme = client.post("/api/v1/funding/aid-schemes", json={
        "fund_id": departement.json()["id"], "name": "Boost Jeunes", "monthly_amount": "125.00", "max_months": 4,
    })  # fmt: skip
    scheme.raise_for_status()
    url = f"/api/v1/funding/aid-schemes/{scheme.json()['id']}/beneficiaries"
    youngest = sorted(people, key=lambda p: _age(p[1], today))[:3]
    for n, (participant_id, _person) in enumerate(youngest):
        beneficiary = client.post(url, json={"participant_id": participant_id})
        beneficiary.raise_for_status()
        month = today.replace(day=1)
        for _ in range(n + 1):  # 1, 2, then 3 monthly payments, the latest last month
            month = (month - timedelta(days=1)).replace(day=1)
            label = f"{month.year:04d}-{month.month:02d}"
            prepared = client.post(f"{url}/{beneficiary.json()['id']}/payments", json={"month": label})
            prepared.raise_for_status()
            (payment,) = [p for p in prepared.json()["payments"] if p["month"] == label]
            if funder is not None and label != period:
                client.post(f"/api/v1/funding/aid-payments/{payment['id']}/approve", headers=funder,
                            json={"reason": "justificatifs reçus"}).raise_for_status()  # fmt: skip
                client.post(f"/api/v1/funding/aid-payments/{payment['id']}/paid").raise_for_status()


def _approve_and_batch(client: httpx.Client, period: str) -> dict | None:
    """A funder (another key, so another person) approves the first disbursement of the run, which the
    admin gathers into a payment batch; the funder's headers, or None if the gateway does not let the
    demo create that key."""
    created = client.post("/api/v1/admin/api-keys", json={"name": "demo — financeur (Département)",
                                                           "roles": ["funder"]})  # fmt: skip
    if created.status_code != 201:
        return None
    funder = {"Authorization": f"Bearer {created.json()['api_key']}"}
    prepared = client.get("/api/v1/funding/disbursements", params={"period": period, "status": "prepared"})
    prepared.raise_for_status()
    items = prepared.json()["items"]
    if not items:
        return funder
    first = items[0]["id"]
    approved = client.post(f"/api/v1/funding/disbursements/{first}/approve", headers=funder,
                           json={"reason": "conforme à la convention"})  # fmt: skip
    approved.raise_for_status()
    client.post("/api/v1/funding/payment-batches", json={"disbursement_ids": [first]}).raise_for_status()
    return funder
