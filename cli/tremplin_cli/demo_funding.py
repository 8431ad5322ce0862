"""The demo territory's funding data, loaded through the gateway after the people (see demo.py)."""

from datetime import date

import httpx


def seed(client: httpx.Client, people: list[tuple[str, dict]], today: date) -> None:
    """Load the funding demo data; `people` are (participant id, the person posted) of the demo."""
