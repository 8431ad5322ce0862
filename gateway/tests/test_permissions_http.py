"""The permission table enforced over HTTP: every route of the matrix, for every role.

Upstreams are closed ports: an allowed call to a service gets through the gateway and is then
503 (the service is down); a refused call is 403 before any upstream is tried.
"""

import pytest

from tremplin_gateway.domain.api_keys import ROLES

from .test_permissions import MATRIX

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("role", ROLES)
async def test_the_gateway_enforces_the_table_for(role, settings_for, start_gateway):
    async with start_gateway(settings_for(rate_limit_default="10000/minute", upstream_retries=0)) as gw:
        _, plaintext = await gw.key(roles=(role,))
        headers = {"Authorization": f"Bearer {plaintext}"}
        wrong = []
        for method, path, allowed in MATRIX:
            response = await gw.client.request(
                method, path, headers=headers, json=None if method in ("GET", "HEAD") else {}
            )
            if role in allowed:
                if response.status_code in (401, 403):
                    wrong.append((method, path, response.status_code, "should be allowed"))
            elif response.status_code != 403 or not response.headers["content-type"].startswith(
                "application/problem+json"
            ):
                wrong.append((method, path, response.status_code, "should be 403"))
        assert wrong == []
