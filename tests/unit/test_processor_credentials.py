"""The processor joins a secured cluster with the same settings as every other client."""

from __future__ import annotations

import faust
import pytest

from processors.faustkit.credentials import broker_credentials
from runtime.config import KafkaSettings


def test_plaintext_needs_no_credentials() -> None:
    assert broker_credentials(KafkaSettings()) is None


def test_sasl_over_tls_carries_user_mechanism_and_a_verifying_context() -> None:
    settings = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="herald",
        sasl_password="s3cret-password",  # type: ignore[arg-type]
    )
    credentials = broker_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "herald"
    assert credentials.password == "s3cret-password"
    assert str(credentials.mechanism.value) == "SCRAM-SHA-512"
    assert credentials.ssl_context is not None
    assert credentials.ssl_context.check_hostname


@pytest.mark.parametrize("protocol", ["SSL"])
def test_ssl_only_gets_a_context(protocol: str) -> None:
    credentials = broker_credentials(KafkaSettings(security_protocol=protocol))  # type: ignore[arg-type]
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.context is not None
