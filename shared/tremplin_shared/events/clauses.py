"""Event contracts of the clauses service (topic `clauses.events`). See contracts.py for the rules."""
