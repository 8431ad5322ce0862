"""Event contracts of the funding service (topic `funding.events`). See contracts.py for the rules."""
