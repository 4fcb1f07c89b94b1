"""Benchmarks of Caseweave's event store against the `eventsourcing` library, on PostgreSQL.

Run `python -m bench --help`; `bench/README.md` says what each figure means.
"""
