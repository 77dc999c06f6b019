"""The analytics sink without a database: a clean event as a row, the SQL, the settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from analytics.table import (
    COLUMN_NAMES,
    STAGING,
    TABLE,
    copy_statement,
    create_statements,
    insert_one_statement,
    insert_statement,
    row_of,
    staging_statement,
)
from herald.cli import _parser
from runtime.config import ConfigError, load_config
from schemas import CleanEvent, Severity

AT = datetime(2026, 11, 27, 8, 0, 5, tzinfo=UTC)


def clean_event(**changes: Any) -> CleanEvent:
    fields: dict[str, Any] = {
        "occurrence_id": "prod-eu-1/5b1c-uid/1234",
        "cluster": "prod-eu-1",
        "namespace": "shop",
        "kind": "Pod",
        "name": "web-7d9c8b6f5d-x2kqp",
        "uid": "pod-uid",
        "workload_kind": "Deployment",
        "workload_name": "web",
        "node": "node-a",
        "reason": "BackOff",
        "type": "Warning",
        "message": "Back-off restarting failed container",
        "count": 7,
        "first_seen": datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC),
        "last_seen": AT,
        "source_component": "kubelet",
        "reporting_component": None,
        "category": "crash-loop",
        "severity": Severity.WARNING,
        "labels": {"team": "shop"},
        "observed_at": AT,
    }
    return CleanEvent(**(fields | changes))


def sql_text(statement: Any) -> str:
    return str(statement.as_string(None))


def test_a_clean_event_fills_every_column_in_order() -> None:
    row = dict(zip(COLUMN_NAMES, row_of(clean_event()), strict=True))
    labels = row.pop("labels")
    assert isinstance(labels, Jsonb)
    assert labels.obj == {"team": "shop"}
    assert row == {
        "occurrence_id": "prod-eu-1/5b1c-uid/1234",
        "cluster": "prod-eu-1",
        "namespace": "shop",
        "involved_kind": "Pod",
        "involved_name": "web-7d9c8b6f5d-x2kqp",
        "involved_uid": "pod-uid",
        "workload_kind": "Deployment",
        "workload_name": "web",
        "node": "node-a",
        "reason": "BackOff",
        "type": "Warning",
        "category": "crash-loop",
        "severity": "warning",
        "message": "Back-off restarting failed container",
        "count": 7,
        "first_seen": datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC),
        "last_seen": AT,
        "source_component": "kubelet",
        "reporting_component": None,
        "observed_at": AT,
    }


def test_a_cluster_scoped_object_has_no_namespace() -> None:
    row = dict(
        zip(COLUMN_NAMES, row_of(clean_event(namespace=None, kind="Node", name="node-a")), strict=True)
    )
    assert row["namespace"] is None
    assert row["involved_kind"] == "Node"


@given(st.text(), st.text(min_size=1, max_size=253), st.dictionaries(st.text(), st.text(), max_size=3))
def test_no_nul_reaches_postgresql(message: str, reason: str, labels: dict[str, str]) -> None:
    """PostgreSQL text and jsonb refuse NUL: one such Event would fail its whole batch."""
    row = row_of(clean_event(message=message, reason=reason, labels=labels))
    texts = [value for value in row if isinstance(value, str)]
    label_obj = next(value.obj for value in row if isinstance(value, Jsonb))
    texts += [*label_obj, *label_obj.values()]
    assert not any("\x00" in text for text in texts)
    assert len(label_obj) == len({key.replace("\x00", "\ufffd") for key in labels})


def test_the_table_is_created_idempotently_with_its_key_and_indexes() -> None:
    table, *indexes = [sql_text(s) for s in create_statements()]
    assert table.startswith(f'CREATE TABLE IF NOT EXISTS "{TABLE}" (')
    assert '"occurrence_id" text PRIMARY KEY' in table
    assert all(f'"{name}" ' in table for name in COLUMN_NAMES)
    assert "written_at timestamptz NOT NULL DEFAULT now()" in table
    assert indexes
    assert all(i.startswith("CREATE INDEX IF NOT EXISTS ") and f' ON "{TABLE}" (' in i for i in indexes)


def test_rows_are_staged_then_inserted_once_per_occurrence() -> None:
    staging, copy, insert = (sql_text(s) for s in (staging_statement(), copy_statement(), insert_statement()))
    assert staging.startswith(f'CREATE TEMP TABLE IF NOT EXISTS "{STAGING}"')
    assert "PRIMARY KEY" not in staging, "the staging table takes a batch's own repeats"
    assert staging.endswith("ON COMMIT DELETE ROWS")
    columns = ", ".join(f'"{name}"' for name in COLUMN_NAMES)
    assert copy == f'COPY "{STAGING}" ({columns}) FROM STDIN'
    assert insert == (
        f'INSERT INTO "{TABLE}" ({columns}) SELECT {columns} FROM "{STAGING}" ORDER BY "occurrence_id" '
        'ON CONFLICT ("occurrence_id") DO NOTHING'
    )
    one = sql_text(insert_one_statement())
    assert one.count("%s") == len(COLUMN_NAMES)
    assert one.endswith('ON CONFLICT ("occurrence_id") DO NOTHING')


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "herald.yaml"
    path.write_text(text)
    return path


def test_the_defaults_reach_compose_postgres_local() -> None:
    config = load_config(None, env={})
    settings = config.analytics
    assert (settings.host, settings.port, settings.database, settings.user) == (
        "127.0.0.1",
        15432,
        "herald",
        "herald",
    )
    assert settings.password is None
    assert settings.consumer_group(config.kafka.topic_prefix) == "herald.analytics.postgres"


def test_the_group_follows_the_prefix_unless_named(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "kafka:\n  topic_prefix: t1.\n"), env={})
    assert config.analytics.consumer_group("t1.") == "t1.analytics.postgres"
    named = load_config(write(tmp_path, "analytics:\n  group_id: warehouse\n"), env={})
    assert named.analytics.consumer_group("t1.") == "warehouse"


def test_the_password_comes_from_a_file_and_stays_out_of_reprs(tmp_path: Path) -> None:
    (tmp_path / "pg-password").write_text("s3cret-pg-password\n")
    config = load_config(write(tmp_path, "analytics:\n  password_file: pg-password\n"), env={})
    assert config.analytics.password is not None
    assert config.analytics.password.get_secret_value() == "s3cret-pg-password"
    assert "s3cret" not in repr(config) + str(config.model_dump())


def test_analytics_errors_are_located(tmp_path: Path) -> None:
    path = write(tmp_path, "analytics:\n  prot: 1\n  batch_size: 0\n  password_file: missing\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    text = str(caught.value)
    assert f"{path}:2: analytics.prot: unknown key" in text
    assert f"{path}:3: analytics.batch_size:" in text
    assert f"{path}:4: analytics.password_file: cannot read" in text


def test_the_command_line_takes_a_metrics_port() -> None:
    args = _parser().parse_args(["analytics", "--metrics-port", "9466"])
    assert (args.command, args.metrics_port) == ("analytics", 9466)
