"""The Faust app: the streaming glue around :mod:`processors.pipeline`.

Consumes the raw topic (consumer group = the app id), quarantines what does not parse,
publishes clean events for analytics and incident updates for the notifiers.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from processors.pipeline import Processed, incident_for, validate_and_classify
from runtime.config import HeraldConfig
from schemas import QuarantineRecord, encode

log = logging.getLogger(__name__)


def faust_broker_url(bootstrap_servers: str) -> str:
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server.strip())


def create_app(config: HeraldConfig) -> faust.App:
    kafka, settings = config.kafka, config.processor
    topics = kafka.topics
    app = faust.App(
        f"{kafka.topic_prefix}{settings.app_id}",
        broker=faust_broker_url(kafka.bootstrap_servers),
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        web_enabled=settings.web_port is not None,
        web_port=settings.web_port or 6066,
        web_host="127.0.0.1",
        key_serializer="raw",
        value_serializer="raw",
    )
    raw = app.topic(topics.raw, value_serializer="raw", key_serializer="raw")
    clean_topic = app.topic(topics.clean)
    alerts_topic = app.topic(topics.alerts)
    invalid_topic = app.topic(topics.invalid)

    async def handle(event: Any) -> None:
        message = event.message
        outcome = validate_and_classify(message.value)
        if isinstance(outcome, Processed):
            clean = outcome.clean
            incident = incident_for(clean)
            await clean_topic.send(key=message.key, value=encode(clean))
            await alerts_topic.send(key=incident.fingerprint.encode(), value=encode(incident))
            return
        log.warning(
            "quarantined %s[%d]@%d: %s: %s",
            message.topic,
            message.partition,
            message.offset,
            outcome.reason,
            outcome.error[:300],
        )
        record = QuarantineRecord.of(
            stage="processor.validate",
            reason=outcome.reason,
            error=outcome.error,
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            payload=message.value,
        )
        await invalid_topic.send(
            key=f"{message.topic}/{message.partition}/{message.offset}".encode(), value=encode(record)
        )

    @app.agent(raw, name="classify")
    async def classify_agent(stream: Any) -> None:
        async for event in stream.events():
            await handle(event)

    return app
