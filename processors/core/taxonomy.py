"""The built-in classification of Kubernetes event reasons into categories and severities.

Ordered rules: the first that matches wins. A rule matches on the reason (exact) and
optionally on a message pattern, because several failures share one reason
(``Failed`` covers image pulls and container starts alike).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas import Severity


@dataclass(frozen=True, slots=True)
class Rule:
    category: str
    severity: Severity
    reasons: frozenset[str]
    message: re.Pattern[str] | None = None


def _rule(category: str, severity: Severity, reasons: str, message: str | None = None) -> Rule:
    pattern = re.compile(message, re.IGNORECASE) if message else None
    return Rule(category, severity, frozenset(reasons.split()), pattern)


CRIT, WARN, INFO = Severity.CRITICAL, Severity.WARNING, Severity.INFO

BUILTIN_RULES: tuple[Rule, ...] = (
    _rule("image-pull", WARN, "Failed", r"ErrImagePull|ImagePullBackOff|pull(ing)? image|InvalidImageName"),
    _rule("image-pull", WARN, "ErrImagePull ImagePullBackOff InvalidImageName ErrImageNeverPull"),
    _rule("image-pull", WARN, "BackOff", r"pulling image|ImagePullBackOff"),
    _rule("crash-loop", CRIT, "BackOff CrashLoopBackOff"),
    _rule("oom", CRIT, "OOMKilling OOMKilled SystemOOM"),
    _rule("scheduling", WARN, "FailedScheduling Unschedulable NotTriggerScaleUp"),
    _rule("node-not-ready", CRIT, "NodeNotReady NodeNotSchedulable Rebooted NodeShutdown"),
    _rule(
        "node-pressure",
        WARN,
        "NodeHasDiskPressure NodeHasMemoryPressure NodeHasInsufficientPID "
        "NodeHasInsufficientMemory EvictionThresholdMet",
    ),
    # The taint-eviction controller's "Cancelling deletion of Pod x" is its node coming back.
    _rule("lifecycle", INFO, "TaintManagerEviction", r"^Cancelling deletion"),
    _rule("eviction", WARN, "Evicted Preempting Preempted TaintManagerEviction EvictionAttempt"),
    _rule(
        "volume",
        WARN,
        "FailedMount FailedAttachVolume FailedDetachVolume VolumeResizeFailed "
        "ProvisioningFailed FailedMapVolume FileSystemResizeFailed VolumeFailedDelete",
    ),
    _rule("probe", WARN, "Unhealthy ProbeWarning"),
    _rule(
        "sandbox-network",
        WARN,
        "FailedCreatePodSandBox FailedKillPodSandBox NetworkNotReady "
        "FailedToCreateEndpoint FailedCreatePodSandbox",
    ),
    _rule("quota", WARN, "FailedCreate", r"quota|exceeded quota|forbidden: exceeded"),
    _rule("admission", WARN, "FailedCreate", r"admission webhook|denied the request"),
    _rule("failed-create", WARN, "FailedCreate"),
    _rule("dns", WARN, "DNSConfigForming"),
    _rule("job-failure", WARN, "BackoffLimitExceeded DeadlineExceeded FailedNeedsStart"),
    _rule(
        "hpa",
        WARN,
        "FailedGetResourceMetric FailedComputeMetricsReplicas FailedGetScale "
        "FailedRescale FailedGetExternalMetric FailedGetObjectMetric FailedGetPodsMetric",
    ),
    _rule("disk-gc", WARN, "FreeDiskSpaceFailed ImageGCFailed ContainerGCFailed InvalidDiskCapacity"),
    _rule("kill", WARN, "FailedKillPod FailedPreStopHook FailedPostStartHook ExceededGracePeriod"),
    _rule(
        "lifecycle",
        INFO,
        "Scheduled Pulling Pulled Created Started Killing SuccessfulCreate "
        "SuccessfulDelete ScalingReplicaSet Completed SawCompletedJob SuccessfulRescale NodeReady "
        "RegisteredNode Starting NodeAllocatableEnforced NodeHasSufficientMemory NodeHasNoDiskPressure "
        "NodeHasSufficientPID LeaderElection Sync UpdatedLoadBalancer EnsuringLoadBalancer "
        "EnsuredLoadBalancer SuccessfulAttachVolume SuccessfulMountVolume ExternalProvisioning "
        "Provisioning ProvisioningSucceeded WaitForFirstConsumer Resizing NoPods",
    ),
)


def classify(
    *, reason: str, event_type: str, message: str, rules: tuple[Rule, ...] = BUILTIN_RULES
) -> tuple[str, Severity]:
    """Category and severity of one event; unknown Warnings are ``other`` warnings."""
    for rule in rules:
        if reason in rule.reasons and (rule.message is None or rule.message.search(message)):
            return rule.category, rule.severity
    return "other", WARN if event_type == "Warning" else INFO
