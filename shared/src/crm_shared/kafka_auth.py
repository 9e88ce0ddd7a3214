"""How every Kafka client of the CRM connects: plaintext in dev, TLS and SASL in a cluster.

Read from ``CRM_KAFKA_*`` when a client is built (never at import time). In Kubernetes
the chart fills these from the Secret Strimzi makes for each service's ``KafkaUser``
(SCRAM-SHA-512 password, or a TLS client certificate) and from the cluster CA Secret.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal, Self

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


class KafkaAuth(BaseSettings):
    """Kafka connection security (``CRM_KAFKA_SECURITY_PROTOCOL`` and friends)."""

    model_config = SettingsConfigDict(env_prefix="CRM_KAFKA_", extra="ignore")

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: Path | None = None
    """The cluster CA (Strimzi: ``<cluster>-cluster-ca-cert``, key ``ca.crt``)."""
    ssl_certfile: Path | None = None
    """A client certificate (Strimzi ``tls`` users: ``user.crt``)."""
    ssl_keyfile: Path | None = None

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.uses_sasl and not (self.sasl_username and self.sasl_password):
            raise ValueError(
                f"CRM_KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs "
                "CRM_KAFKA_SASL_USERNAME and CRM_KAFKA_SASL_PASSWORD"
            )
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("CRM_KAFKA_SSL_CERTFILE and CRM_KAFKA_SSL_KEYFILE go together")
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for SSL and SASL_SSL (system CAs unless a CA file is given)."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile else None
        )
        if self.ssl_certfile and self.ssl_keyfile:
            context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile))
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.uses_sasl:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        return options

    def faststream_security(self) -> BaseSecurity | None:
        """The same for a FastStream ``KafkaBroker``."""
        if self.security_protocol == "PLAINTEXT":
            return None
        context = self.ssl_context()
        if not self.uses_sasl:
            return BaseSecurity(ssl_context=context, use_ssl=True)
        user, password = self.sasl_username or "", self.sasl_password or ""
        sasl = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256}.get(
            self.sasl_mechanism, SASLPlaintext
        )
        return sasl(user, password, ssl_context=context, use_ssl=self.uses_tls)


def kafka_client_options() -> dict[str, Any]:
    """aiokafka keyword arguments from the environment (``CRM_KAFKA_*``)."""
    return KafkaAuth().client_options()
