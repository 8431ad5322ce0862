"""The demo territory's clauses data, loaded through the gateway after the people (see demo.py)."""

from datetime import date

import httpx


def seed(client: httpx.Client, people: list[tuple[str, dict]], today: date) -> None:
    """Load the clauses demo data; `people` are (participant id, the person posted) of the demo."""
