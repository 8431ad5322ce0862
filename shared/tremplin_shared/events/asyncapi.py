"""AsyncAPI 3.0 document generated from the contracts, never written by hand."""

from typing import Any

from .contracts import EVENT_TYPES


def _name(ce_type: str) -> str:
    return ce_type.removeprefix("fr.tremplin.").replace(".", "_")


def asyncapi_document(version: str = "0.1.0") -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for ce_type, model in sorted(EVENT_TYPES.items()):
        name = _name(ce_type)
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schemas[name] = schema
        messages[name] = {
            "name": ce_type,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip(),
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventsBinaryHeaders"},
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "bindings": {"kafka": {"key": {"type": "string", "description": f"the {model.aggregate}"}}},
        }
        channel = channels.setdefault(
            model.topic, {"address": model.topic, "messages": {}, "description": f"Kafka topic {model.topic}"}
        )
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
        operations[f"publish_{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{model.topic}"},
            "messages": [{"$ref": f"#/channels/{model.topic}/messages/{name}"}],
        }
    schemas["CloudEventsBinaryHeaders"] = {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_tenant", "content-type"],
        "properties": {
            "ce_specversion": {"const": "1.0"},
            "ce_id": {"type": "string"},
            "ce_type": {"type": "string"},
            "ce_source": {"type": "string"},
            "ce_time": {"type": "string", "format": "date-time"},
            "ce_subject": {"type": "string", "description": "aggregate id, also the Kafka key"},
            "ce_tenant": {"type": "string", "description": "territory the event belongs to"},
            "ce_requestid": {"type": "string"},
            "ce_traceparent": {"type": "string"},
            "content-type": {"const": "application/json"},
        },
    }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Tremplin events", "version": version},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
