"""The whole file: one section per stage, and the checks across sections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from runtime.config.analytics import AnalyticsSettings
from runtime.config.base import S, Settings
from runtime.config.issues import ConfigError, ConfigIssue, _Source, did_you_mean
from runtime.config.kafka import KafkaSettings
from runtime.config.notifier import NotifierSettings, RootRouteSettings
from runtime.config.processor import ProcessorSettings
from runtime.config.producer import ProducerSettings
from runtime.config.receivers import ReceiverEntry
from runtime.config.validation import _validate
from schemas.categories import Language


class LoggingSettings(Settings):
    format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object a line, for log pipelines (as --log-format json)."
    )


class HeraldConfig(Settings):
    kafka: KafkaSettings = Field(KafkaSettings(), description="The broker and topics every process uses.")
    logging: LoggingSettings = Field(LoggingSettings(), description="How every process logs.")
    producer: ProducerSettings | None = Field(
        None, description="The clusters `herald producer` watches; needed by the producer only."
    )
    processor: ProcessorSettings = Field(
        ProcessorSettings(), description="`herald processor`: deduplication, classification, incidents."
    )
    notifier: NotifierSettings = Field(
        NotifierSettings(), description="Settings every `herald notifier` shares, whatever its receiver."
    )
    analytics: AnalyticsSettings = Field(
        AnalyticsSettings(), description="`herald analytics`: where the clean events are stored."
    )
    receivers: list[ReceiverEntry] = Field(
        default_factory=list, description="Where incidents are delivered, one notifier process each."
    )
    route: RootRouteSettings | None = Field(
        None,
        description="Which receivers get which incidents. Unset, every receiver gets every "
        "incident, as every kube-eventer sink gets every event.",
    )

    _source: _Source | None = None
    _unset: tuple[ConfigIssue, ...] = ()
    """Unset variables in receivers' settings, standing for placeholders (lenient and check modes)."""
    _problems: tuple[ConfigIssue, ...] = ()
    _unchecked: frozenset[int] = frozenset()

    @property
    def problems(self) -> list[ConfigIssue]:
        """Check mode: everything loading found wrong, in file order (empty in the other modes)."""
        return list(self._problems)

    @property
    def unchecked_receivers(self) -> frozenset[int]:
        """Check mode: indexes of receiver entries whose name or type is wrong (already in
        :attr:`problems`), which cannot be built to check the rest."""
        return self._unchecked

    def unset_secrets(self, name: str) -> list[ConfigIssue]:
        """The unset variables of receiver ``name``'s settings, which placeholders stand for."""
        index, _ = self.receiver(name)
        return [issue for issue in self._unset if issue.path[:2] == ("receivers", index)]

    def require_secrets(self, name: str) -> None:
        """Raise the unset variables of receiver ``name``'s settings: before it delivers."""
        missing = self.unset_secrets(name)
        if missing:
            raise ConfigError(missing)

    @model_validator(mode="after")
    def _receiver_names_unique(self) -> HeraldConfig:
        self.check_receiver_names()
        return self

    def check_receiver_names(self) -> None:
        """A name picks a receiver (``notifier --receiver``, routes): a second entry would be unreachable."""
        first: dict[str, int] = {}
        duplicates: list[InitErrorDetails] = []
        for index, entry in enumerate(self.receivers):
            if not entry.name:  # check mode: an entry whose name is wrong, reported already
                continue
            if entry.name in first:
                duplicates.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "duplicate_receiver",
                            "receivers[{first}] already has this name",
                            {"first": first[entry.name]},
                        ),
                        loc=("receivers", index, "name"),
                        input=entry.name,
                    )
                )
            first.setdefault(entry.name, index)
        if duplicates:
            raise ValidationError.from_exception_data(type(self).__name__, duplicates)

    @model_validator(mode="after")
    def _route_names_known_receivers(self) -> HeraldConfig:
        self.check_route_receivers()
        return self

    def check_route_receivers(self) -> None:
        """Raised as a ValidationError so each unknown name is located at its own key."""
        if self.route is None:
            return
        known = {entry.name for entry in self.receivers if entry.name}
        unknown = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "unknown_receiver",
                    "must name one of the receivers: {known}{hint}",
                    {
                        "known": ", ".join(sorted(known)) or "none configured",
                        "hint": did_you_mean(name, sorted(known)),
                    },
                ),
                loc=path,
                input=name,
            )
            for path, name in self.route.named_receivers(("route",))
            if name not in known
        ]
        if unknown:
            raise ValidationError.from_exception_data(type(self).__name__, unknown)

    def receiver(self, name: str) -> tuple[int, ReceiverEntry]:
        for index, entry in enumerate(self.receivers):
            if entry.name == name:
                return index, entry
        known = ", ".join(r.name for r in self.receivers)
        raise self.error_at(
            ("receivers",),
            f"no receiver named {name!r} (" + (f"configured: {known})" if known else "none configured)"),
        )

    def locale(self, name: str) -> tuple[Language, str]:
        """The named receiver's language and time zone: its own, else ``notifier``'s."""
        _, entry = self.receiver(name)
        return entry.language or self.notifier.language, entry.timezone or self.notifier.timezone

    def validate_section(self, path: Sequence[str | int], model: type[S], data: Mapping[str, Any]) -> S:
        """Validate one section with a stage's own model, locating errors in this file.

        ``<name>_file`` keys of the model's secret settings are read here, since only the
        stage's model knows which of a receiver's keys are secrets.
        """
        source = self._source or _Source("<defaults>")
        return _validate(model, dict(data), source, tuple(path), deferred=self._unset)

    @property
    def source_file(self) -> str:
        return self._source.file if self._source else "<defaults>"

    @property
    def base_dir(self) -> Path:
        """What relative paths in the file are relative to: the file's directory."""
        return Path(self._source.file).parent if self._source else Path()

    def issue_at(self, path: tuple[str | int, ...], message: str) -> ConfigIssue:
        """A problem found after validation (a template that fails, a ConfigMap that cannot be
        read), located at ``path``."""
        line = self._source.line_of(path) if self._source else None
        return ConfigIssue(self.source_file, path, line, message)

    def error_at(self, path: tuple[str | int, ...], message: str) -> ConfigError:
        return ConfigError([self.issue_at(path, message)])
