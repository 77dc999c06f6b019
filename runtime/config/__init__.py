"""One configuration file for every process, validated with errors that say where and what.

The file is YAML with ``${ENV}`` interpolation. Any secret setting (a ``SecretStr``)
``<name>`` can instead be given as ``<name>_file: /path`` (Alertmanager style, e.g. a
mounted Kubernetes Secret): the file is read when the section is validated, its trailing
newlines stripped. Unknown keys are errors, since a typo is the usual cause. Sections
that belong to one stage (a receiver's settings, say) are validated by that stage through
:meth:`HeraldConfig.validate_section`, which reports errors located in the same file.
"""

from runtime.config.analytics import AnalyticsSettings
from runtime.config.base import (
    SECRET_FILE_SUFFIX,
    ZONE_MISTAKES,
    _is_secret,
    instance_id_from_env,
    is_time_zone,
    time_zone_problem,
)
from runtime.config.issues import ConfigError, ConfigIssue, did_you_mean
from runtime.config.kafka import KafkaSettings
from runtime.config.loader import (
    ENV_BOOTSTRAP,
    ENV_CONFIG_PATH,
    ENV_TOPIC_PREFIX,
    PLACEHOLDER,
    PLACEHOLDER_URL,
    LoadMode,
    load_config,
)
from runtime.config.notifier import (
    ALWAYS_NEWS,
    MATERIAL_CHANGES,
    NotifierSettings,
    RootRouteSettings,
    RouteSettings,
    UiAuthSettings,
)
from runtime.config.processor import DEFAULT_INHIBIT_RULES, ClassificationRule, InhibitRule, ProcessorSettings
from runtime.config.producer import ClusterSource, LeaderElectionSettings, ProducerSettings
from runtime.config.receivers import ReceiverEntry
from runtime.config.root import HeraldConfig

__all__ = [
    "ALWAYS_NEWS",
    "DEFAULT_INHIBIT_RULES",
    "ENV_BOOTSTRAP",
    "ENV_CONFIG_PATH",
    "ENV_TOPIC_PREFIX",
    "MATERIAL_CHANGES",
    "PLACEHOLDER",
    "PLACEHOLDER_URL",
    "SECRET_FILE_SUFFIX",
    "ZONE_MISTAKES",
    "AnalyticsSettings",
    "ClassificationRule",
    "ClusterSource",
    "ConfigError",
    "ConfigIssue",
    "HeraldConfig",
    "InhibitRule",
    "KafkaSettings",
    "LeaderElectionSettings",
    "LoadMode",
    "NotifierSettings",
    "ProcessorSettings",
    "ProducerSettings",
    "ReceiverEntry",
    "RootRouteSettings",
    "RouteSettings",
    "UiAuthSettings",
    "_is_secret",
    "did_you_mean",
    "instance_id_from_env",
    "is_time_zone",
    "load_config",
    "time_zone_problem",
]
