"""Offer rules: positions, the open/filled/closed status, and what a hire needs from the offer.

`positions` is what the employer wants to fill; `open_positions` what is left after hires. An offer is
`filled` when nothing is left, `closed` when withdrawn (by a PATCH or the source) — hires never reopen
it. Changing `positions` keeps the hires already made.
"""

from typing import Literal, get_args

OfferStatus = Literal["open", "filled", "closed"]
STATUSES: tuple[str, ...] = get_args(OfferStatus)


class InvalidPositions(Exception):
    def __init__(self, positions: int, hires: int) -> None:
        super().__init__(f"positions ({positions}) cannot be fewer than the hires already made ({hires})")
        self.positions, self.hires = positions, hires


def hires_made(positions: int, open_positions: int) -> int:
    return positions - open_positions


def status_for(open_positions: int, closed: bool) -> OfferStatus:
    if closed:
        return "closed"
    return "open" if open_positions > 0 else "filled"


def resize(positions: int, open_positions: int, new_positions: int) -> int:
    """The open positions once `positions` becomes `new_positions`, hires kept."""
    hires = hires_made(positions, open_positions)
    if new_positions < hires or new_positions < 1:
        raise InvalidPositions(new_positions, hires)
    return new_positions - hires


def can_hire(status: str, open_positions: int) -> bool:
    return status == "open" and open_positions > 0
