"""Personal data in event payloads, by category.

Inside the platform every service reads the fields it needs. A receiver outside it (a webhook
subscriber) gets a field of a category only when it was granted that category: a départemental
system that follows hours does not need where a person lives or that they hold an RQTH. A field is
declared with `Field(json_schema_extra=personal("location"))`; the mark shows in the AsyncAPI
document as `x-personal-data`, so receivers can see what they would be granted.
"""

import functools
import types
from collections.abc import Collection
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

PERSONAL_DATA_KEY = "x-personal-data"
# location: where the person lives (coordinates, commune, a QPV address);
# health: data concerning health (RQTH), a special category (RGPD art. 9).
PersonalDataCategory = Literal["location", "health"]
CATEGORIES: tuple[str, ...] = get_args(PersonalDataCategory)

Path = tuple[str, ...]


def personal(category: PersonalDataCategory) -> dict[str, str]:
    """The `json_schema_extra` of a field holding personal data of `category`."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown personal data category {category!r}")
    return {PERSONAL_DATA_KEY: category}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (`Flags`, `Flags | None`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


@functools.cache
def personal_fields(model: type[BaseModel]) -> dict[Path, str]:
    """Each personal field of `model`, nested models included, as (path → category)."""
    found: dict[Path, str] = {}
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and PERSONAL_DATA_KEY in extra:
            found[(name,)] = str(extra[PERSONAL_DATA_KEY])
            continue
        for nested in _models_in(field.annotation):
            found.update({(name, *path): category for path, category in personal_fields(nested).items()})
    return found


def withhold(model: type[BaseModel], data: dict[str, Any], granted: Collection[str]) -> dict[str, Any]:
    """`data` (an event's JSON payload) without the personal fields of the categories not `granted`:
    they are left out, not emptied. The given dict is not changed."""
    withheld = [path for path, category in personal_fields(model).items() if category not in granted]
    if not withheld:
        return data
    result = dict(data)
    for path in withheld:
        _drop(result, path)
    return result


def _drop(data: dict[str, Any], path: Path) -> None:
    head, *rest = path
    if not rest:
        data.pop(head, None)
        return
    nested = data.get(head)
    if isinstance(nested, dict):
        data[head] = nested = dict(nested)  # a copy: the caller's nested dicts stay as they were
        _drop(nested, tuple(rest))
