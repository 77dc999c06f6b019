"""How every process reaches the brokers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from runtime.config.base import Settings
from schemas.topics import Topics

SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
SSL_PROTOCOLS = ("SSL", "SASL_SSL")


class KafkaSettings(Settings):
    bootstrap_servers: str = Field("127.0.0.1:19092", description="Comma-separated host:port list.")
    topic_prefix: str = Field("herald.", pattern=r"^[A-Za-z0-9._-]*$", description="Prefix of every topic.")
    partitions: int = Field(6, ge=1, le=10_000, description="Partitions of the topics kube-herald creates.")
    replication_factor: int = Field(1, ge=1, description="Replication factor of created topics.")
    admin_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="How long herald silence and herald tail wait for a broker to answer before they "
        "stop with one line naming the address (herald topics: --timeout). The stages wait as long "
        "as it takes.",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How to reach the brokers: the sasl_* and ssl_* keys apply accordingly."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="Required with SASL_PLAINTEXT and SASL_SSL."
    )
    sasl_username: str | None = Field(None, description="Required with SASL_PLAINTEXT and SASL_SSL.")
    sasl_password: SecretStr | None = Field(None, description="Or sasl_password_file.")
    ssl_ca_location: str | None = Field(None, description="CA bundle file for SSL listeners.")
    ssl_certificate_location: str | None = Field(
        None, description="Client certificate (PEM) for brokers that require mutual TLS."
    )
    ssl_key_location: str | None = Field(None, description="The client certificate's private key (PEM).")
    ssl_key_password: SecretStr | None = Field(
        None, description="Passphrase of ssl_key_location, if encrypted. Or ssl_key_password_file."
    )
    ssl_check_hostname: bool = Field(
        True, description="Check that the broker's certificate names the host connected to."
    )

    @model_validator(mode="after")
    def _security_is_consistent(self) -> KafkaSettings:
        """Settings the chosen protocol ignores are mistakes; raised per key, so each is located."""
        protocol = self.security_protocol
        problems: list[tuple[str, str]] = []
        for key in ("sasl_mechanism", "sasl_username", "sasl_password"):
            value = getattr(self, key)
            if protocol in SASL_PROTOCOLS and value is None:
                problems.append((key, f"required with security_protocol {protocol}"))
            elif protocol not in SASL_PROTOCOLS and value is not None:
                problems.append((key, f"only used with security_protocol {' or '.join(SASL_PROTOCOLS)}"))
        if protocol not in SSL_PROTOCOLS:
            for key in (
                "ssl_ca_location",
                "ssl_certificate_location",
                "ssl_key_location",
                "ssl_key_password",
            ):
                if getattr(self, key) is not None:
                    problems.append((key, f"only used with security_protocol {' or '.join(SSL_PROTOCOLS)}"))
        elif (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            missing = "ssl_key_location" if self.ssl_key_location is None else "ssl_certificate_location"
            problems.append((missing, "a client certificate needs both ssl_certificate_location and its key"))
        elif self.ssl_key_password is not None and self.ssl_key_location is None:
            problems.append(("ssl_key_password", "set only with ssl_key_location"))
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("kafka_security", message),
                        loc=(key,),
                        input=getattr(self, key),
                    )
                    for key, message in problems
                ],
            )
        return self

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    def librdkafka(self) -> dict[str, str]:
        """The common librdkafka properties (confluent-kafka) for these settings."""
        conf = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.security_protocol in SSL_PROTOCOLS:
            if self.ssl_ca_location:
                conf["ssl.ca.location"] = self.ssl_ca_location
            if self.ssl_certificate_location:
                conf["ssl.certificate.location"] = self.ssl_certificate_location
            if self.ssl_key_location:
                conf["ssl.key.location"] = self.ssl_key_location
            if self.ssl_key_password is not None:
                conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
            conf["ssl.endpoint.identification.algorithm"] = "https" if self.ssl_check_hostname else "none"
        return conf
