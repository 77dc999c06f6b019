"""``herald analytics``: run the PostgreSQL analytics sink (``analytics/``)."""

from __future__ import annotations

import argparse

from runtime.config import HeraldConfig


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    analytics = sub.add_parser(
        "analytics",
        help="write every clean event to PostgreSQL, one row per occurrence (analytics.*)",
        description="Consume the clean events topic and write one PostgreSQL row per occurrence "
        "(configured under analytics:), for dashboards and ad-hoc SQL.",
    )
    analytics.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics, /healthz, /readyz (overrides analytics.metrics_port; default: that "
        "setting, else not served)",
    )


def run(config: HeraldConfig, args: argparse.Namespace) -> int:
    # Imported here so that other commands never load psycopg and the Kafka consumer.
    from analytics.sink import run_analytics  # noqa: PLC0415

    return run_analytics(config, metrics_port=args.metrics_port)
