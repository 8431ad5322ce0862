"""Loaded by schemathesis in the API fuzzing (SCHEMATHESIS_HOOKS). Its `date` values are hypothesis's
`dates()`, which seldom reach the ends of the range, where date arithmetic overflows (50 years before
0030-01-01, the day after 9999-12-31): two draws in three here are such dates, so that the few
examples per operation reach them."""

import schemathesis
from hypothesis import strategies as st

EDGE_DATES = ("0001-01-01", "0030-01-01", "9999-12-31")
edges = st.sampled_from(EDGE_DATES)

schemathesis.openapi.format("date", st.one_of(edges, edges, st.dates().map(str)))
