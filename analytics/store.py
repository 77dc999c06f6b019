"""The PostgreSQL side of the sink: one connection, the table made sure of, batches written
in one transaction each.

Errors are raised to the sink, which tells the two kinds apart: :data:`REFUSED` is about
the rows (retrying cannot help), any other ``psycopg.Error`` about the database or the
connection (retrying can).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import psycopg

from analytics.table import (
    SCHEMA_LOCK,
    Row,
    copy_statement,
    create_statements,
    insert_one_statement,
    insert_statement,
    staging_statement,
)
from runtime.config import AnalyticsSettings
from runtime.log import register_secrets

log = logging.getLogger(__name__)

T = TypeVar("T")
Connection = psycopg.Connection[tuple[object, ...]]

CONNECT_TIMEOUT_SECONDS = 10
REFUSED = (psycopg.DataError, psycopg.IntegrityError)
"""Errors about what a row holds (a value out of range, a constraint the table has): the
database will refuse that row however often it is sent."""


@dataclass(frozen=True, slots=True)
class Refusal:
    index: int
    """Position of the refused row in the batch."""
    error: str


class EventStore:
    def __init__(self, settings: AnalyticsSettings) -> None:
        self._settings = settings
        self._connection: Connection | None = None
        if settings.password is not None:
            register_secrets([settings.password.get_secret_value()])

    @property
    def where(self) -> str:
        """The database, for log lines (no password)."""
        s = self._settings
        return f"{s.user}@{s.host}:{s.port}/{s.database}"

    def open(self) -> None:
        """Connect and create the table and its indexes if they do not exist yet."""
        self._connected()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def ping(self) -> None:
        self._run(lambda connection: connection.execute("SELECT 1"))

    def write(self, rows: Sequence[Row]) -> int:
        """Insert the rows not in the table yet, in one transaction; returns how many were new."""

        def copy_then_insert(connection: Connection) -> int:
            with connection.transaction(), connection.cursor() as cursor:
                with cursor.copy(copy_statement()) as copy:
                    for row in rows:
                        copy.write_row(row)
                cursor.execute(insert_statement())
                return max(cursor.rowcount, 0)

        return self._run(copy_then_insert)

    def write_each(self, rows: Sequence[Row]) -> tuple[int, list[Refusal]]:
        """Insert row by row, each in a savepoint, after the database refused the batch:
        returns how many were new and which rows it refused (the others are written)."""

        def one_by_one(connection: Connection) -> tuple[int, list[Refusal]]:
            inserted, refused = 0, []
            statement = insert_one_statement()
            with connection.transaction(), connection.cursor() as cursor:
                for index, row in enumerate(rows):
                    try:
                        with connection.transaction():
                            cursor.execute(statement, row)
                            inserted += max(cursor.rowcount, 0)
                    except REFUSED as exc:
                        refused.append(Refusal(index, f"{type(exc).__name__}: {exc}"))
            return inserted, refused

        return self._run(one_by_one)

    def _run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on the connection, opened (and the table made sure of) if need be; a
        connection that broke is dropped, so the next call connects again."""
        connection = self._connected()
        try:
            return work(connection)
        except psycopg.Error:
            if connection.broken or connection.closed:
                self.close()
            raise

    def _connected(self) -> Connection:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        s = self._settings
        connection = psycopg.connect(
            host=s.host,
            port=s.port,
            dbname=s.database,
            user=s.user,
            password=s.password.get_secret_value() if s.password is not None else None,
            sslmode=s.sslmode,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name="herald-analytics",
            autocommit=True,
        )
        try:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                for statement in create_statements():
                    connection.execute(statement)
            connection.execute(staging_statement())
        except BaseException:
            connection.close()
            raise
        log.info("connected to %s", self.where)
        self._connection = connection
        return connection
