"""What an erasure may keep of a France Travail id: a pseudonym.

France Travail keeps sending what it knows (a registration again, an update, a replay of a dead
letter): after an erasure, the person must not come back through it. So the erasure keeps
HMAC-SHA256(key, "france-travail:" + id) — the participants' hash key, the prefix keeping these
apart from the NIR hashes — with the latest registration date known: enough to recognise the id
in a later event, no way back to it without the key.
"""

import hashlib
import hmac
from datetime import date


def france_travail_pseudonym(france_travail_id: str, key: str) -> str:
    """64 hex characters: the `france_travail_erasures.pseudonym` column."""
    return hmac.new(key.encode(), b"france-travail:" + france_travail_id.encode(), hashlib.sha256).hexdigest()


def erased_registration(registered_on: date, registered_until: date | None) -> bool:
    """A registration the erased person already had (that date or an older one): it stays forgotten.
    A later one is a new registration at France Travail, a new case to orient."""
    return registered_until is not None and registered_on <= registered_until
