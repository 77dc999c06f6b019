"""The ``herald_events`` table: its definition, and a clean event as one of its rows.

One row per occurrence, keyed by the occurrence id (``cluster/event uid/resourceVersion``),
so replaying the clean topic after a crash inserts nothing twice: rows are copied into a
per-session staging table, then inserted with ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from psycopg import sql
from psycopg.types.json import Jsonb

from schemas import CleanEvent

TABLE: Final = "herald_events"
STAGING: Final = "herald_events_incoming"
SCHEMA_LOCK: Final = 0x68657261  # pg_advisory_xact_lock key: replicas create the table one at a time

COLUMNS: Final = (
    ("occurrence_id", "text PRIMARY KEY"),
    ("cluster", "text NOT NULL"),
    ("namespace", "text"),
    ("involved_kind", "text NOT NULL"),
    ("involved_name", "text NOT NULL"),
    ("involved_uid", "text"),
    ("workload_kind", "text"),
    ("workload_name", "text"),
    ("node", "text"),
    ("reason", "text NOT NULL"),
    ("type", "text NOT NULL"),
    ("category", "text NOT NULL"),
    ("severity", "text NOT NULL"),
    ("message", "text NOT NULL"),
    ("count", "bigint NOT NULL"),
    ("first_seen", "timestamptz NOT NULL"),
    ("last_seen", "timestamptz NOT NULL"),
    ("source_component", "text"),
    ("reporting_component", "text"),
    ("labels", "jsonb NOT NULL"),
    ("observed_at", "timestamptz NOT NULL"),
)
"""Every column a clean event fills, in row order; ``written_at`` is the database's own."""

INDEXES: Final = (
    # Time windows over every cluster: top reasons per hour, noisiest workloads, busiest nodes.
    ("herald_events_last_seen", ("last_seen",)),
    # One workload's or one object's history.
    ("herald_events_workload", ("cluster", "namespace", "workload_name", "last_seen")),
    ("herald_events_object", ("cluster", "namespace", "involved_kind", "involved_name", "last_seen")),
)

Row = tuple[str | int | datetime | Jsonb | None, ...]


def _names(columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(name) for name in columns)


COLUMN_NAMES: Final = tuple(name for name, _type in COLUMNS)


def create_statements() -> list[sql.Composed]:
    """Idempotent DDL: run at every start, by every replica."""
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind)) for name, kind in COLUMNS
    )
    statements = [
        sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, written_at timestamptz NOT NULL DEFAULT now())").format(
            sql.Identifier(TABLE), columns
        )
    ]
    statements += [
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
            sql.Identifier(name), sql.Identifier(TABLE), _names(on)
        )
        for name, on in INDEXES
    ]
    return statements


def staging_statement() -> sql.Composed:
    """A session's private staging table, emptied by every commit."""
    return sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS").format(
        sql.Identifier(STAGING),
        sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind.replace(" PRIMARY KEY", "")))
            for name, kind in COLUMNS
        ),
    )


def copy_statement() -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(STAGING), _names(COLUMN_NAMES))


def insert_statement() -> sql.Composed:
    """Staged rows not yet in the table; in key order, so concurrent writers lock rows alike."""
    return sql.SQL(
        "INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} ORDER BY {key} "
        "ON CONFLICT ({key}) DO NOTHING"
    ).format(
        table=sql.Identifier(TABLE),
        columns=_names(COLUMN_NAMES),
        staging=sql.Identifier(STAGING),
        key=sql.Identifier("occurrence_id"),
    )


def row_of(event: CleanEvent) -> Row:
    """The row of one clean event, in :data:`COLUMNS` order.

    PostgreSQL text cannot hold NUL, which JSON (and so an Event's message) can: it
    becomes U+FFFD rather than making the whole batch fail.
    """
    return (
        _text(event.occurrence_id),
        _text(event.cluster),
        _text(event.namespace),
        _text(event.kind),
        _text(event.name),
        _text(event.uid),
        _text(event.workload_kind),
        _text(event.workload_name),
        _text(event.node),
        _text(event.reason),
        _text(event.type),
        _text(event.category),
        event.severity.value,
        _text(event.message),
        event.count,
        event.first_seen,
        event.last_seen,
        _text(event.source_component),
        _text(event.reporting_component),
        Jsonb({_text(k): _text(v) for k, v in event.labels.items()}),
        event.observed_at,
    )


def _text(value: str | None) -> str | None:
    return value.replace("\x00", "\ufffd") if value is not None else None


def insert_one_statement() -> sql.Composed:
    """One row, for finding which rows of a refused batch the database refuses."""
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING").format(
        sql.Identifier(TABLE),
        _names(COLUMN_NAMES),
        sql.SQL(", ").join(sql.Placeholder() for _ in COLUMN_NAMES),
        sql.Identifier("occurrence_id"),
    )
