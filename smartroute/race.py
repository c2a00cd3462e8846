"""Hedged racing (the seed's race strategy): start the next candidate when the current one has
produced nothing after the hedge delay; the first complete answer (or, streaming, the first
token) wins and the others are cancelled. Async uses tasks; sync uses worker threads."""
