"""The NIR (French social security number): validated, then only ever kept as a keyed hash.

Checked with python-stdnum (format, length, control key). The platform does not keep the NIR
itself at all — DOMAIN/ARCHITECTURE say "encrypted if kept": it is not kept, so there is nothing
to encrypt. What is stored is HMAC-SHA256(key, compact NIR), enough to find duplicates and no way
back to the number without the key. Error messages never repeat the number.
"""

import hashlib
import hmac

from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError
from stdnum.fr import nir as stdnum_nir


class InvalidNir(ValueError):
    pass


def validate_nir(value: str) -> str:
    """The compact NIR (15 characters, 2A/2B kept for Corsica), or InvalidNir."""
    try:
        return stdnum_nir.validate(value)
    except InvalidChecksum:
        raise InvalidNir("the NIR's control key does not match its number") from None
    except InvalidLength:
        raise InvalidNir("a NIR has 15 characters: 13 for the number and 2 for the control key") from None
    except ValidationError:
        raise InvalidNir("not a valid NIR") from None


def nir_hash(compact_nir: str, key: str) -> str:
    """Hex HMAC-SHA256 of the compact NIR: 64 characters, the `participants.nir_hash` column."""
    return hmac.new(key.encode(), compact_nir.encode(), hashlib.sha256).hexdigest()
