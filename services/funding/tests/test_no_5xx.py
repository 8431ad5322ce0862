"""Bad input anywhere is a 4xx problem, never a 5xx: every write route gets malformed bodies and odd
values (hypothesis), every read route odd query parameters."""

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import convention_body, fund_body

ODD = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30), st.sampled_from(["NaN", "Infinity", "-0", "1e400", "0000-01", "2024-02-30", "FR76", ""]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)  # fmt: skip


async def test_malformed_bodies_are_4xx(funding):
    fund = await funding.post("/api/v1/funding/funds", fund_body())
    convention = await funding.post("/api/v1/funding/conventions", convention_body(fund["id"]))
    worker = await funding.post(
        f"/api/v1/funding/conventions/{convention['id']}/workers",
        {"participant_id": str(uuid.uuid4()), "weekly_hours": 35, "start_date": "2024-01-01"},
    )
    scheme = await funding.post(
        "/api/v1/funding/aid-schemes",
        {"fund_id": fund["id"], "name": "Boost", "monthly_amount": "125", "max_months": 4},
    )
    beneficiary = await funding.post(f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries",
                                     {"participant_id": str(uuid.uuid4())})  # fmt: skip
    aid = (await funding.post(f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries/{beneficiary['id']}/payments",
                              {"month": "2024-02"}))["payments"][0]  # fmt: skip
    valid = {
        ("POST", "/api/v1/funding/funds"): fund_body(),
        ("POST", "/api/v1/funding/conventions"): convention_body(fund["id"]),
        ("PUT", f"/api/v1/funding/funds/{fund['id']}/envelopes/2024"): {"amount": "10"},
        ("POST", f"/api/v1/funding/conventions/{convention['id']}/workers"):
            {"participant_id": str(uuid.uuid4()), "weekly_hours": 35, "start_date": "2024-01-01"},
        ("PATCH", f"/api/v1/funding/conventions/{convention['id']}/workers/{worker['id']}"): {"end_date": "2024-05-01"},
        ("POST", f"/api/v1/funding/conventions/{convention['id']}/workers/{worker['id']}/hours"):
            {"weekly_hours": 30, "valid_from": "2024-06-01"},
        ("PUT", "/api/v1/funding/smic-rates/2030-01-01"): {"hourly": "13.00"},
        ("POST", "/api/v1/funding/runs"): {"period": "2024-01"},
        ("POST", "/api/v1/funding/payment-batches"): {"disbursement_ids": [str(uuid.uuid4())]},
        ("POST", "/api/v1/funding/aid-schemes"): {"fund_id": fund["id"], "name": "x", "monthly_amount": "1",
                                                  "max_months": 1},
        ("POST", f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries"): {"participant_id": str(uuid.uuid4())},
        ("POST", f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries/{beneficiary['id']}/payments"):
            {"month": "2024-01"},
        ("POST", f"/api/v1/funding/aid-payments/{aid['id']}/reject"): {"reason": "pas de justificatif"},
    }  # fmt: skip
    headers = funding.headers("admin-1", ("admin",))

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(sorted(valid)), field=st.integers(min_value=0, max_value=10), value=ODD)
    def case(route, field, value):
        body = dict(valid[route])
        keys = sorted(body)
        body[keys[field % len(keys)]] = value
        cases.append((route, body))

    cases: list = []
    case()
    assert len(cases) >= 100
    for raw in ([], "x", None, 3):
        cases += [(route, raw) for route in valid]
    for (method, url), body in cases:
        response = await funding.client.request(method, url, json=body, headers=headers)
        assert response.status_code < 500, (method, url, body, response.text)
    for url in ("/api/v1/funding/ledger?year=abc", "/api/v1/funding/ledger?format=xml",
                "/api/v1/funding/ledger?after=-1",
                "/api/v1/funding/disbursements?period=2024-13", "/api/v1/funding/conventions?siret=1",
                "/api/v1/funding/conventions/not-a-uuid/outstanding", "/api/v1/funding/ledger?absorbed_by=x",
                f"/api/v1/funding/funds/{fund['id']}/budget?year=0", "/api/v1/funding/funds/not-a-uuid",
                "/api/v1/funding/payment-batches/00000000-0000-0000-0000-000000000000/sepa.xml"):  # fmt: skip
        response = await funding.client.get(url, headers=headers)
        assert 400 <= response.status_code < 500, (url, response.text)
