"""Merging the services' OpenAPI documents: pure functions, no HTTP."""

from tremplin_gateway.openapi import merge_documents, merge_schemas

REF = "#/components/schemas/"


def ref(name: str) -> dict:
    return {"$ref": REF + name}


def doc(paths: dict, schemas: dict) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "x", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def op(schema_name: str) -> dict:
    return {"get": {"responses": {"200": {"content": {"application/json": {"schema": ref(schema_name)}}}}}}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}


def test_identical_schemas_are_kept_once():
    merged, renames = merge_schemas({"a": {"Error": STRING}, "b": {"Error": dict(STRING)}})
    assert merged == {"Error": STRING}
    assert renames == {"a": {}, "b": {}}


def test_same_name_different_content_is_renamed_per_service():
    merged, renames = merge_schemas({"matching": {"Status": STRING}, "funding": {"Status": INTEGER}})
    assert merged == {"matching_Status": STRING, "funding_Status": INTEGER}
    assert renames == {"matching": {"Status": "matching_Status"}, "funding": {"Status": "funding_Status"}}


def test_a_schema_referring_to_a_renamed_one_follows_and_is_renamed_if_it_now_differs():
    merged, _ = merge_schemas(
        {
            "matching": {"Offer": {"properties": {"status": ref("Status")}}, "Status": STRING},
            "funding": {"Offer": {"properties": {"status": ref("Status")}}, "Status": INTEGER},
        }
    )
    assert merged["matching_Offer"] == {"properties": {"status": ref("matching_Status")}}
    assert merged["funding_Offer"] == {"properties": {"status": ref("funding_Status")}}
    assert "Offer" not in merged and "Status" not in merged


def test_a_renamed_name_never_collides_with_an_existing_one():
    merged, renames = merge_schemas(
        {"matching": {"Status": STRING, "funding_Status": {"type": "boolean"}}, "funding": {"Status": INTEGER}}
    )
    assert renames["funding"]["Status"] == "funding_Status_2"
    assert merged["funding_Status"] == {"type": "boolean"} and merged["funding_Status_2"] == INTEGER


def test_documents_merge_paths_rewrite_refs_and_list_the_unavailable():
    gateway = doc({"/api/v1/admin/api-keys": op("ApiKeyOut")}, {"ApiKeyOut": {"type": "object"}})
    matching = doc(
        {
            "/api/v1/offers": op("Status"),
            "/api/v1/applications/{id}": {
                "get": {
                    "parameters": [
                        {"name": "X-Tremplin-Identity", "in": "header", "schema": STRING},
                        {"name": "id", "in": "path", "schema": STRING},
                    ],
                    "security": [{"Internal": []}],
                    "responses": {},
                }
            },
            "/api/v1/participants": op("Status"),  # not routed to matching: left out
            "/healthz": op("Status"),
        },
        {"Status": STRING},
    )
    funding = doc({"/api/v1/funding/funds": op("Status")}, {"Status": INTEGER})
    merged = merge_documents(gateway, {"participants": None, "matching": matching, "funding": funding, "clauses": None})

    assert merged["info"]["x-unavailable"] == ["participants", "clauses"]
    assert set(merged["paths"]) == {
        "/api/v1/admin/api-keys",
        "/api/v1/offers",
        "/api/v1/applications/{id}",
        "/api/v1/funding/funds",
    }
    schema_of = lambda path: merged["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]  # noqa: E731
    assert schema_of("/api/v1/offers") == ref("matching_Status")
    assert schema_of("/api/v1/funding/funds") == ref("funding_Status")
    assert schema_of("/api/v1/admin/api-keys") == ref("ApiKeyOut")
    application = merged["paths"]["/api/v1/applications/{id}"]["get"]
    assert [p["name"] for p in application["parameters"]] == ["id"]
    assert "security" not in application
    assert set(merged["components"]["securitySchemes"]) == {"ApiKey", "Bearer", "OIDC"}
    # Every $ref points at a schema that exists.
    text = str(merged)
    for name in merged["components"]["schemas"]:
        text = text.replace(f"'{REF}{name}'", "")
    assert REF not in text
