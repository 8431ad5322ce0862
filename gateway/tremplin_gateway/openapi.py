"""The merged OpenAPI document: the gateway's own routes plus every service's routed paths.

Each service's /openapi.json is fetched with a short timeout; a service that does not answer is
left out and named in `info.x-unavailable`. Schemas are merged into one `components.schemas`; when
two sources define the same name with different content, each variant is renamed
`<source>_<Name>` and the `$ref`s of that source are rewritten.

The document is public (no key needed) and costs a request to every service: it is kept
(`OpenApiCache`) and built by one request at a time, so a flood of readers does not become a
flood on the services.
"""

import asyncio
import copy
import json
import logging
import time
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tremplin_shared.identity import IDENTITY_HEADER

from . import __doc__ as package_doc
from .config import Settings
from .proxy import route_for

log = logging.getLogger(__name__)

SCHEMA_REF = "#/components/schemas/"
GATEWAY = "gateway"
VERSION = "0.1.0"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "A Tremplin API key."},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "The same API key as `Authorization: Bearer`."},
    "OIDC": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token of the département's identity provider (when the gateway is configured "
        "for it): issuer, audience, expiry and signature verified against its JWKS; tenant and roles from its claims.",
    },
}


async def fetch_openapi(client: httpx.AsyncClient, service: str, base_url: str, timeout: float) -> dict | None:
    try:
        response = await client.get(f"{base_url.rstrip('/')}/openapi.json", timeout=timeout)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("openapi of a service unavailable", extra={"fields": {"service": service, "error": repr(exc)}})
        return None
    return document if isinstance(document, dict) else None


def rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if not renames:
        return node
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF):
                name = value[len(SCHEMA_REF) :]
                out[key] = SCHEMA_REF + renames.get(name, name)
            else:
                out[key] = rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [rewrite_refs(value, renames) for value in node]
    return node


def _canonical(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


def _fresh_name(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def merge_schemas(per_source: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The merged schemas and, per source, how its schema names were renamed.

    Renaming a schema changes the content of the schemas that refer to it, which can make two
    formerly identical schemas differ; so conflicts are resolved until there are none left. Each
    pass gives at least one schema a name nobody else has, so it ends.
    """
    renames: dict[str, dict[str, str]] = {source: {} for source in per_source}
    taken = {name for schemas in per_source.values() for name in schemas}
    while True:
        by_name: dict[str, list[tuple[str, str, Any]]] = {}
        for source, schemas in per_source.items():
            for name, schema in schemas.items():
                final = renames[source].get(name, name)
                by_name.setdefault(final, []).append((source, name, rewrite_refs(schema, renames[source])))
        conflicts = [entries for entries in by_name.values() if len({_canonical(e[2]) for e in entries}) > 1]
        if not conflicts:
            return {name: entries[0][2] for name, entries in sorted(by_name.items())}, renames
        for entries in conflicts:
            for source, name, _ in entries:
                renamed = _fresh_name(f"{source}_{name}", taken)
                taken.add(renamed)
                renames[source][name] = renamed


def _service_paths(service: str, document: dict) -> dict[str, Any]:
    """The paths of `service` the gateway routes to it, without the identity header parameter."""
    paths = {}
    for path, item in (document.get("paths") or {}).items():
        if route_for(path) != service:
            continue
        item = copy.deepcopy(item)
        operations = [item, *(item[m] for m in HTTP_METHODS if isinstance(item.get(m), dict))]
        for operation in operations:
            if operation is not item:
                operation.pop("security", None)  # the gateway's security applies
            if "parameters" in operation:
                kept = [p for p in operation["parameters"] if not _is_identity_parameter(p)]
                if kept:
                    operation["parameters"] = kept
                else:
                    del operation["parameters"]
        paths[path] = item
    return paths


def _is_identity_parameter(parameter: Any) -> bool:
    return (
        isinstance(parameter, dict)
        and parameter.get("in") == "header"
        and str(parameter.get("name", "")).lower() == IDENTITY_HEADER.lower()
    )


def merge_documents(gateway: dict, services: dict[str, dict | None]) -> dict:
    """`services` maps a service name to its document, or None when it could not be fetched."""
    sources: dict[str, dict] = {GATEWAY: gateway}
    sources.update({name: doc for name, doc in services.items() if doc is not None})
    unavailable = [name for name, doc in services.items() if doc is None]

    schemas, renames = merge_schemas(
        {source: dict((doc.get("components") or {}).get("schemas") or {}) for source, doc in sources.items()}
    )
    paths: dict[str, Any] = {}
    tags: dict[str, dict] = {}
    for source, doc in sources.items():
        source_paths = (doc.get("paths") or {}) if source == GATEWAY else _service_paths(source, doc)
        for path, item in source_paths.items():
            paths.setdefault(path, {}).update(rewrite_refs(item, renames[source]))
        for tag in doc.get("tags") or []:
            if isinstance(tag, dict) and "name" in tag:
                tags.setdefault(tag["name"], tag)

    description = (package_doc or "").strip()
    document: dict[str, Any] = {
        "openapi": gateway.get("openapi", "3.1.0"),
        "info": {
            "title": "Tremplin API",
            "version": VERSION,
            "description": f"{description} Every /api route requires an API key.",
            "x-unavailable": unavailable,
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
        "security": [{name: []} for name in SECURITY_SCHEMES],
    }
    if tags:
        document["tags"] = list(tags.values())
    return document


def gateway_document(app: FastAPI) -> dict:
    return get_openapi(title="Tremplin gateway", version=VERSION, routes=app.routes)


async def merged_openapi(app: FastAPI) -> dict:
    settings: Settings = app.state.settings
    client: httpx.AsyncClient = app.state.http
    names = list(settings.upstreams)
    documents = await asyncio.gather(
        *(
            fetch_openapi(client, name, url, settings.openapi_fetch_timeout_seconds)
            for name, url in settings.upstreams.items()
        )
    )
    return merge_documents(gateway_document(app), dict(zip(names, documents, strict=True)))


class OpenApiCache:
    """The merged document, encoded once and kept `seconds` — `incomplete_seconds` when a service
    did not answer (it is tried again soon). Concurrent readers of an expired document wait for the
    one rebuilding it."""

    def __init__(self, seconds: float, incomplete_seconds: float) -> None:
        self.seconds, self.incomplete_seconds = seconds, incomplete_seconds
        self._document: bytes | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self, app: FastAPI) -> bytes:
        if self._document is not None and time.monotonic() < self._expires:
            return self._document
        async with self._lock:
            if self._document is None or time.monotonic() >= self._expires:
                document = await merged_openapi(app)
                kept = self.incomplete_seconds if document["info"].get("x-unavailable") else self.seconds
                self._document = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
                self._expires = time.monotonic() + kept
            return self._document
