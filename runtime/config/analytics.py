"""Where ``herald analytics`` stores the clean events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from runtime.config.base import Settings


class AnalyticsSettings(Settings):
    """Where ``herald analytics`` writes the clean events: a PostgreSQL database.

    The defaults reach the database ``compose/postgres-local`` runs.
    """

    host: str = Field("127.0.0.1", min_length=1, description="PostgreSQL host name or address.")
    port: int = Field(15432, ge=1, le=65535, description="PostgreSQL port.")
    database: str = Field("herald", min_length=1, description="Database holding the herald_events table.")
    user: str = Field("herald", min_length=1, description="Role to connect as.")
    password: SecretStr | None = Field(None, description="The role's password. Or password_file.")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = Field(
        "prefer", description="libpq sslmode."
    )
    batch_size: int = Field(500, ge=1, le=50_000, description="Clean events written per transaction.")
    group_id: str | None = Field(
        None, min_length=1, description="Kafka consumer group; default <topic_prefix>analytics.postgres."
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="/metrics, /healthz, /readyz; off if unset."
    )

    def consumer_group(self, topic_prefix: str) -> str:
        return self.group_id or f"{topic_prefix}analytics.postgres"
