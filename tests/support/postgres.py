"""A private PostgreSQL server for the analytics tests, started with compose/postgres-local
in a directory of its own on a free port, and a fresh database per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.broker import free_port

POSTGRES_LOCAL = Path(__file__).parents[2] / "compose" / "postgres-local"


@dataclass
class PostgresServer:
    home: Path
    port: int
    host: str = "127.0.0.1"
    user: str = "herald"

    def _run(self, command: str) -> None:
        env = {**os.environ, "HERALD_POSTGRES_HOME": str(self.home), "HERALD_POSTGRES_PORT": str(self.port)}
        done = subprocess.run(
            [str(POSTGRES_LOCAL), command], env=env, capture_output=True, text=True, timeout=180, check=False
        )
        assert done.returncode == 0, f"postgres-local {command}: {done.stdout}{done.stderr}"

    def connect(self, database: str) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=database, autocommit=True
        )

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.connect("postgres") as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name

    def section(self, database: str, **extra: Any) -> dict[str, Any]:
        """The ``analytics`` config section pointing at ``database``."""
        return {"host": self.host, "port": self.port, "user": self.user, "database": database, **extra}


@pytest.fixture(scope="session", name="postgres")
def postgres_fixture() -> Iterator[PostgresServer]:
    """One server for the session. Its directory is not under pytest's tmp_path: that is private
    to root, and the server runs as the postgres user when the tests run as root."""
    home = Path(tempfile.mkdtemp(prefix="herald-pg-"))
    server = PostgresServer(home, free_port())
    server._run("start")
    try:
        yield server
    finally:
        server._run("stop")
        shutil.rmtree(home, ignore_errors=True)
