"""Downstream consumers of the clean events topic: the PostgreSQL analytics sink."""
