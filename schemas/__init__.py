"""The versioned contracts of every kube-herald topic.

This package is the only thing the producer, the processors and the notifiers share:
each message on a topic is one of these models, serialized with orjson, carrying its
schema name (``schema``) and major version (``v``). JSON Schema copies of the models
live in ``schemas/json/`` for consumers outside this code base.
"""

from schemas.checkpoint import ProducerCheckpoint
from schemas.clean import CleanEvent, Severity
from schemas.codec import SchemaError, decode, encode
from schemas.deadletter import DeadLetter
from schemas.group import (
    GroupedOccurrence,
    GroupInput,
    decode_group_input,
    encode_occurrences,
    occurrence_wire,
)
from schemas.incident import Change, Incident, IncidentStatus, RelatedIncident, ResolvedBy, SampleMessage
from schemas.matchers import Matcher, MatchOp, match_all
from schemas.nflog import NotifyLogEntry, Outcome
from schemas.quarantine import QuarantineRecord
from schemas.raw import Observation, RawEnvelope, RawMessage, raw_message, raw_partition_key
from schemas.silence import Silence
from schemas.topics import TOPIC_SPECS, Topics, TopicSpec

__all__ = [
    "TOPIC_SPECS",
    "Change",
    "CleanEvent",
    "DeadLetter",
    "GroupInput",
    "GroupedOccurrence",
    "Incident",
    "IncidentStatus",
    "MatchOp",
    "Matcher",
    "NotifyLogEntry",
    "Observation",
    "Outcome",
    "ProducerCheckpoint",
    "QuarantineRecord",
    "RawEnvelope",
    "RawMessage",
    "RelatedIncident",
    "ResolvedBy",
    "SampleMessage",
    "SchemaError",
    "Severity",
    "Silence",
    "TopicSpec",
    "Topics",
    "decode",
    "decode_group_input",
    "encode",
    "encode_occurrences",
    "match_all",
    "occurrence_wire",
    "raw_message",
    "raw_partition_key",
]
