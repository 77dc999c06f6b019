"""The processor's Kafka credentials: the same settings the confluent-kafka clients get,
in the form Faust (aiokafka) takes, so a SASL or SSL cluster is never joined in plaintext."""

from __future__ import annotations

import ssl

import faust
from faust.types.auth import CredentialsT

from runtime.config import KafkaSettings


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=kafka.ssl_ca_location)
    context.check_hostname = kafka.ssl_check_hostname
    if kafka.ssl_certificate_location and kafka.ssl_key_location:
        password = kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None
        context.load_cert_chain(kafka.ssl_certificate_location, kafka.ssl_key_location, password=password)
    return context


def broker_credentials(kafka: KafkaSettings) -> CredentialsT | None:
    """None for PLAINTEXT; otherwise what ``faust.App(broker_credentials=...)`` needs."""
    protocol = kafka.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(kafka) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
        mechanism=kafka.sasl_mechanism,
        ssl_context=context,
    )
