"""``herald migrate kube-eventer``: a kube-eventer Deployment carried over to kube-herald.

It reads the Deployment (from a file or the cluster), the ConfigMaps its webhook sinks take
their body template from and whatever its ``$(VAR)`` references name, parses each ``--sink``
as the notifier would (``notifiers/sinks.py``) and writes a commented herald.yaml, each
receiver's secrets as files beside it (never in herald.yaml, which becomes a ConfigMap) and
a kustomization that runs kube-herald next to kube-eventer. A sink or flag it cannot carry
over is said on stderr, one line each, with why. Everything is made in memory first, so an
error (one line, exit 2) leaves nothing written.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import logging
import os
import re
import shlex
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from kubernetes import config as kube_config
from kubernetes.client import AppsV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from pydantic import SecretStr, ValidationError

from notifiers.receivers import REGISTRY
from notifiers.routing import kube_eventer_matchers
from notifiers.sinks import (
    ConfigMapRef,
    SinkError,
    SinkSpec,
    body_from_manifests,
    parse_sink,
    read_configmap_body,
)
from runtime.kube import KubeError, api_client
from runtime.redact import REDACTED, redact_url
from schemas.raw import CLUSTER_ID_PATTERN

HERALD_NAMESPACE = "kube-herald"
IMAGE = "kube-herald"
"""The image name deploy/'s workloads use; --image renames it with kustomize's images."""
SECRETS_ENV = "HERALD_SECRETS_DIR"
SECRETS_MOUNT = "/etc/herald-secrets"
"""Where the notifier pods mount the Secret (beside /etc/herald, the ConfigMap's mount)."""
SECRET_NAME = "herald-secrets"  # noqa: S105 (a Secret's name, not a password)
NORMAL_NOTE = (
    "kube-eventer sent this sink Normal events too (level=Normal, or a webhook without level); "
    "kube-herald makes incidents of Warning events only, unless processor.min_severity is info "
    "(then this route gets them; routes with a severity matcher still do not)"
)
UNROUTED = "unrouted"
"""The root route's receiver when every sink filters: no notifier runs for it, so what no
sink's filters pass is dropped, as kube-eventer dropped it."""
PLAIN_HEADERS = frozenset({"content-type", "accept", "user-agent"})
"""Webhook headers written into herald.yaml; any other may be a credential."""
SHOWN_PARAMETERS = frozenset(
    {
        "level",
        "namespaces",
        "kinds",
        "reason",
        "exclude_reasons",
        "method",
        "msg_type",
        "label",
        "to_user",
        "agent_id",
        "corp_id",
        "custom_body_configmap",
        "custom_body_configmap_namespace",
    }
)
"""Sink parameters whose values are shown in comments; every other value is redacted."""
MANIFESTS = ("namespace.yaml", "producer-rbac.yaml", "producer.yaml", "processor.yaml")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_KUBE_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_SHELL_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_FLAG = re.compile(r"^--?(sink|source|frequency)(?:=(.*))?$", re.DOTALL)


class MigrateError(Exception):
    """Why nothing was written, in one line that holds no secret."""


# --- the command line -----------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Exit 0 having written the files, or 2 with one line saying why nothing was written
    (after the warnings about each sink, which are said either way)."""
    warnings: list[str] = []
    # The kubernetes client retries an unreachable server and logs each retry; the error says it
    # once. (It resets the "urllib3" logger's level whenever it builds a client, not this one's.)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.CRITICAL)
    try:
        source = (
            FileSource.read(args.filename, args.configmap)
            if args.filename is not None
            else ClusterSource.read(
                args.deployment,
                namespace=args.namespace,
                kubeconfig=args.kubeconfig,
                context=args.context,
                extra=args.configmap,
            )
        )
        try:
            plan = carry_over(
                source,
                cluster=args.cluster,
                language=args.language,
                bootstrap=args.kafka_bootstrap,
                warnings=warnings,
            )
            plan.image = args.image
        finally:
            for line in warnings:
                print(line, file=sys.stderr)
        written = write(plan, args.output_dir, force=args.force)
    except MigrateError as exc:
        print(f"herald migrate kube-eventer: {exc}", file=sys.stderr)
        return 2
    out = args.output_dir
    for path, what in written:
        print(f"wrote {path}  ({what})")
    print(
        "\nnext:\n"
        f"  herald -c {out / 'herald.yaml'} check-config\n"
        f"  herald -c {out / 'herald.yaml'} render\n"
        f"  kubectl apply -k {out}/      # needs Kafka at {args.kafka_bootstrap}"
    )
    return 0


# --- where the Deployment and what it names come from ----------------------------------------


Lookup = Callable[[str, str, str], "dict[str, str] | None"]
"""(kind, namespace, name) -> the data of that ConfigMap or Secret, decoded; None if absent."""


def _objects(text: str, origin: str) -> list[dict[str, Any]]:
    """The Kubernetes objects in a YAML text: documents, and the items of a List."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise MigrateError(f"{origin}: not valid YAML{where}") from None
    found: list[dict[str, Any]] = []
    for document in documents:
        if isinstance(document, dict):
            items = document.get("items") if str(document.get("kind", "")).endswith("List") else None
            found += [i for i in items or [document] if isinstance(i, dict)]
    return found


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MigrateError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrateError(
            f"{path}: cannot read it ({getattr(exc, 'strerror', None) or type(exc).__name__})"
        ) from None


def _named(obj: dict[str, Any]) -> tuple[str, str | None, str | None]:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind", "")), meta.get("namespace"), meta.get("name")


def _decoded(obj: dict[str, Any]) -> dict[str, str]:
    """A ConfigMap's data, or a Secret's data (base64) and stringData."""
    data = {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
    if obj.get("kind") == "Secret":
        try:
            data = {k: base64.b64decode(v).decode("utf-8") for k, v in data.items()}
        except (binascii.Error, UnicodeDecodeError):
            data = {}
        data.update({str(k): str(v) for k, v in (obj.get("stringData") or {}).items()})
    return data


@dataclass
class Source:
    """The kube-eventer Deployment, and where the objects it names are looked up."""

    deployment: dict[str, Any]
    described: str
    """What the header of herald.yaml says it was made from."""
    texts: list[tuple[str, str]]
    """(file, YAML) of every file given: searched for ConfigMaps and Secrets first."""
    context: str | None = None
    """The kubeconfig context read from, when read from a cluster."""

    @property
    def namespace(self) -> str:
        return str((self.deployment.get("metadata") or {}).get("namespace") or "default")

    @property
    def name(self) -> str:
        return str((self.deployment.get("metadata") or {}).get("name") or "kube-eventer")

    def _in_files(self, kind: str, namespace: str, name: str) -> tuple[str, str, dict[str, Any]] | None:
        for origin, text in self.texts:
            for obj in _objects(text, origin):
                got_kind, got_namespace, got_name = _named(obj)
                if (got_kind, got_name) == (kind, name) and got_namespace in (None, namespace):
                    return origin, text, obj
        return None

    def body(self, ref: ConfigMapRef) -> str:
        """The body template of ConfigMap ``ref``: from the files given, else from the cluster."""
        found = self._in_files("ConfigMap", ref.namespace, ref.name)
        if found is not None:
            origin, text, _ = found
            try:
                body = body_from_manifests(text, ref)
            except SinkError as exc:
                raise MigrateError(f"{origin}: {exc}") from None
            if body is not None:
                return body
        return self._cluster_body(ref)

    def _cluster_body(self, ref: ConfigMapRef) -> str:
        given = ", ".join(origin for origin, _ in self.texts) or "the files given"
        raise MigrateError(
            f"ConfigMap {ref} (custom_body_configmap) is not in {given}: give it with --configmap FILE "
            f"(kubectl -n {ref.namespace} get configmap {ref.name} -o yaml > FILE)"
        )

    def data(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        found = self._in_files(kind, namespace, name)
        return _decoded(found[2]) if found is not None else None


class FileSource(Source):
    @classmethod
    def read(cls, path: Path, extra: list[Path]) -> FileSource:
        texts = [(str(p), _read_text(p)) for p in [path, *extra]]
        deployments = [o for o in _objects(texts[0][1], str(path)) if o.get("kind") == "Deployment"]
        if not deployments:
            raise MigrateError(f"{path}: no Deployment in it (expected kube-eventer's, kind: Deployment)")
        with_sinks = [d for d in deployments if _sink_words(d)]
        if len(with_sinks) > 1:
            names = ", ".join(f"{_named(d)[1] or 'default'}/{_named(d)[2]}" for d in with_sinks)
            raise MigrateError(f"{path}: several Deployments with --sink ({names}); keep one in the file")
        deployment = (with_sinks or deployments)[0]
        source = cls(deployment, "", texts)
        source.described = f"Deployment {source.namespace}/{source.name} in {path}"
        return source


@dataclass
class ClusterSource(Source):
    kubeconfig: str | None = None
    core: Any = None

    @classmethod
    def read(
        cls,
        target: str,
        *,
        namespace: str,
        kubeconfig: str | None,
        context: str | None,
        extra: list[Path],
    ) -> ClusterSource:
        name = _deployment_name(target)
        texts = [(str(p), _read_text(p)) for p in extra]
        try:
            client = api_client(in_cluster=False, kubeconfig=kubeconfig, context=context)
        except KubeError as exc:  # names the file and, for a context, the ones there are
            raise MigrateError(str(exc)) from None
        except (ConfigException, OSError, TypeError, ValueError) as exc:
            where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
            raise MigrateError(f"cannot use kubeconfig {where}: {_one_line(exc)}") from None
        server = redact_url(str(client.configuration.host))
        try:
            found = AppsV1Api(client).read_namespaced_deployment(name, namespace, _request_timeout=(10, 30))
        except ApiException as exc:
            if exc.status == 404:
                raise MigrateError(f"no Deployment {namespace}/{name} in the cluster at {server}") from None
            raise MigrateError(
                f"reading Deployment {namespace}/{name} from {server}: HTTP {exc.status} {exc.reason}"
            ) from None
        except Exception as exc:  # urllib3's errors: nothing answers at that address
            raise MigrateError(f"the cluster at {server} is unreachable ({type(exc).__name__})") from None
        deployment = client.sanitize_for_serialization(found)  # type: ignore[no-untyped-call]
        return cls(
            deployment,
            f"Deployment {namespace}/{name} in the cluster at {server}",
            texts,
            context=context or _current_context(kubeconfig),
            kubeconfig=kubeconfig,
            core=CoreV1Api(client),
        )

    def _cluster_body(self, ref: ConfigMapRef) -> str:
        try:
            return read_configmap_body(ref, kubeconfig=self.kubeconfig, context=self.context)
        except SinkError as exc:
            raise MigrateError(f"{exc}; or give it with --configmap FILE") from None

    def data(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        found = super().data(kind, namespace, name)
        if found is not None:
            return found
        read = self.core.read_namespaced_secret if kind == "Secret" else self.core.read_namespaced_config_map
        try:
            obj = self.core.api_client.sanitize_for_serialization(
                read(name, namespace, _request_timeout=(10, 30))
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            # Only the sink (or TZ) that names it is left out, with this as the reason.
            raise _UnresolvedError(
                f"reading {kind} {namespace}/{name}: HTTP {exc.status} {exc.reason}"
            ) from None
        except Exception as exc:
            raise _UnresolvedError(f"reading {kind} {namespace}/{name}: {type(exc).__name__}") from None
        return _decoded({**obj, "kind": kind})


def _deployment_name(target: str) -> str:
    kind, slash, name = target.rpartition("/")
    if slash and kind not in ("deploy", "deployment", "deployments", "deployment.apps", "deployments.apps"):
        raise MigrateError(f"{target}: expected deploy/NAME (kube-eventer runs as a Deployment)")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", name):
        raise MigrateError(f"{target}: expected deploy/NAME with a Deployment's name")
    return name


def _current_context(kubeconfig: str | None) -> str | None:
    try:
        _, active = kube_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=kubeconfig
        )
    except Exception:  # the client was built from it already; a name is only for a guess
        return None
    return str(active.get("name")) if isinstance(active, dict) and active.get("name") else None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


# --- kube-eventer's flags --------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    name: str
    value: str
    container: str


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c for c in spec.get("containers") or [] if isinstance(c, dict)]


def _words(container: dict[str, Any]) -> Iterator[str]:
    """Its command and args as the binary sees them; a shell's ``-c`` script is split as a shell would."""
    for written in [*(container.get("command") or []), *(container.get("args") or [])]:
        word = str(written)
        if re.search(r"\s", word.strip()) and "sink" in word:
            try:
                yield from shlex.split(word)
            except ValueError:
                yield word
        else:
            yield word


def _flags(container: dict[str, Any]) -> list[Flag]:
    """``--sink``/``--source``/``--frequency`` as Go's flag package reads them: ``--sink=V``,
    ``-sink=V``, or the flag and its value as two words."""
    words = list(_words(container))
    found = []
    for index, word in enumerate(words):
        match = _FLAG.match(word)
        if match is None:
            continue
        value = match.group(2)
        if value is None:
            value = words[index + 1] if index + 1 < len(words) else ""
        found.append(Flag(match.group(1), value, str(container.get("name", ""))))
    return found


def _sink_words(deployment: dict[str, Any]) -> list[Flag]:
    return [f for c in _containers(deployment) for f in _flags(c) if f.name == "sink"]


class _UnresolvedError(Exception):
    """A ``$(VAR)`` that cannot be read; the message says where it comes from, never a value."""


@dataclass
class Environment:
    """A container's environment as Kubernetes builds it, read only for the names asked for."""

    container: dict[str, Any]
    namespace: str
    lookup: Lookup
    _values: dict[str, str] = field(default_factory=dict)

    def _spec(self, name: str) -> dict[str, Any] | None:
        for entry in reversed(self.container.get("env") or []):
            if isinstance(entry, dict) and entry.get("name") == name:
                return entry
        return None

    def get(self, name: str) -> str | None:
        """The variable's value; None if the container does not set it."""
        if name in self._values:
            return self._values[name]
        entry = self._spec(name)
        value: str | None
        if entry is None:
            value = self._from_env_from(name)
        elif "value" in entry or "valueFrom" not in entry:
            value = self.expand(str(entry.get("value") or ""))
        else:
            value = self._referenced(name, entry["valueFrom"] or {})
        if value is not None:
            self._values[name] = value
        return value

    def _referenced(self, name: str, source: dict[str, Any]) -> str:
        for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            ref = source.get(key)
            if isinstance(ref, dict):
                where = f"{kind} {self.namespace}/{ref.get('name')} key {ref.get('key')}"
                data = self.lookup(kind, self.namespace, str(ref.get("name")))
                if data is None or str(ref.get("key")) not in data:
                    raise _UnresolvedError(
                        f"${name} comes from {where}, which was not found: give it with --configmap FILE"
                    )
                return data[str(ref.get("key"))]
        raise _UnresolvedError(f"${name} comes from the pod itself (fieldRef), unknown before it runs")

    def _from_env_from(self, name: str) -> str | None:
        for entry in reversed(self.container.get("envFrom") or []):
            prefix = str(entry.get("prefix") or "")
            if not name.startswith(prefix):
                continue
            for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                ref = entry.get(key)
                if isinstance(ref, dict):
                    data = self.lookup(kind, self.namespace, str(ref.get("name")))
                    if data is not None and name[len(prefix) :] in data:
                        return data[name[len(prefix) :]]
        return None

    def expand(self, text: str) -> str:
        """Kubernetes' ``$(VAR)`` expansion of command, args and env values (``$$`` is a ``$``)."""

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            value = self.get(match.group(1))
            return match.group(0) if value is None else value

        return _KUBE_REF.sub(substitute, text)

    def expand_shell(self, text: str) -> str:
        """kube-eventer's own ``os.ExpandEnv`` of a sink's URL (``$VAR``, ``${VAR}``)."""

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            value = self.get(name)
            if value is None:
                raise _UnresolvedError(
                    f"${name} is not set in the container (kube-eventer would send it empty)"
                )
            return value

        return _SHELL_REF.sub(substitute, text)


# --- the carried-over configuration ----------------------------------------------------------


@dataclass
class Receiver:
    name: str
    spec: SinkSpec
    shown: str
    """The sink as written, its secrets redacted."""
    settings: dict[str, Any]
    """As written into herald.yaml: secrets replaced by ``<name>_file`` or ``${VAR}``."""
    secrets: dict[str, str]
    """File name in secrets/ -> value."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment variable -> file name in secrets/, for the secrets no ``_file`` can hold."""


@dataclass
class Plan:
    source: Source
    cluster: str
    cluster_why: str
    receivers: list[Receiver]
    root: str
    timezone: str | None
    language: str | None
    language_why: str
    bootstrap: str
    warnings: list[str]
    image: str | None = None
    made: datetime = field(default_factory=lambda: datetime.now(UTC))


def carry_over(
    source: Source, *, cluster: str | None, language: str | None, bootstrap: str, warnings: list[str]
) -> Plan:
    """What herald.yaml, the secrets and the manifests will hold; ``warnings`` gets a line for
    each sink or flag left out (even when nothing can be carried over) and each guess made."""
    containers = [c for c in _containers(source.deployment) if any(f.name == "sink" for f in _flags(c))]
    if not containers:
        raise MigrateError(
            f"{source.described}: no --sink in its containers' command or args (is it kube-eventer's?)"
        )
    carrying = _Carrying(source, warnings=warnings)
    timezones = [zone for container in containers if (zone := carrying.container(container))]
    receivers = carrying.receivers
    if not receivers:
        raise MigrateError("no sink can be carried over (see the warnings above); nothing written")
    chosen, why = _cluster_id(cluster, receivers, source, warnings)
    language, language_why = _language(language, receivers)
    return Plan(
        source=source,
        cluster=chosen,
        cluster_why=why,
        receivers=receivers,
        root=_root(receivers),
        timezone=_zone(timezones[0], warnings) if timezones else None,
        language=language,
        language_why=language_why,
        bootstrap=bootstrap,
        warnings=warnings,
    )


@dataclass
class _Carrying:
    """The receivers carried over so far, and what was said about the rest."""

    source: Source
    receivers: list[Receiver] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sinks: int = 0

    def container(self, container: dict[str, Any]) -> str | None:
        """Carry over one container's flags; its TZ, if set."""
        env = Environment(container, self.source.namespace, self.source.data)
        for flag in _flags(container):
            if flag.name == "source":
                self.warnings += _source_warning(flag.value)
            elif flag.name == "frequency":
                self.warnings.append(
                    f"warning: --frequency={flag.value}: not carried over: kube-herald groups events into "
                    "incidents and sends the first message after processor.group_wait_seconds (30)"
                )
            else:
                self.sinks += 1
                carried = self.sink(flag.value, env)
                if carried is not None:
                    self.receivers.append(carried)
        try:
            return env.get("TZ")
        except _UnresolvedError as exc:
            self.warnings.append(f"warning: TZ: not carried over: {exc}")
            return None

    def _refuse(self, shown: str, why: object) -> None:
        self.warnings.append(f"warning: sink {self.sinks} ({shown}): not carried over: {why}")

    def sink(self, written: str, env: Environment) -> Receiver | None:
        try:
            uri = env.expand(written)
            kind, colon, rest = uri.partition(":")
            uri = kind + colon + env.expand_shell(rest)
        except _UnresolvedError as exc:
            self._refuse(shown_sink(written), exc)
            return None
        shown = shown_sink(uri)
        try:
            spec = parse_sink(uri)
        except SinkError as exc:
            self._refuse(shown, exc)
            return None
        settings = dict(spec.settings)
        if spec.body_configmap is not None:
            settings["custom_body"] = self.source.body(spec.body_configmap)
        name = _unique(spec.type.replace("_", "-"), {r.name for r in self.receivers} | {UNROUTED})
        try:
            REGISTRY[spec.type].config_model.model_validate({"name": name, "type": spec.type, **settings})
        except ValidationError as exc:
            error = exc.errors()[0]
            self._refuse(shown, f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}")
            return None
        notes = list(spec.notes)
        if not any(m.name == "severity" for m in spec.matchers):
            notes.append(NORMAL_NOTE)
        self.warnings += [f"note: sink {self.sinks} ({name}): {note}" for note in notes]
        receiver = Receiver(name, replace(spec, settings=settings, notes=notes), shown, {}, {})
        _split_secrets(receiver)
        return receiver


def _language(given: str | None, receivers: list[Receiver]) -> tuple[str | None, str]:
    if given is not None:
        return given, "--language"
    written = " ".join(
        str(r.spec.settings.get("custom_body", "")) + str(r.spec.settings.get("keyword", ""))
        for r in receivers
    )
    if _CJK.search(written):
        return "zh", "the sinks' templates and labels are Chinese"
    return None, ""


def _split_secrets(receiver: Receiver) -> None:
    """Every secret setting becomes a file in secrets/, named in herald.yaml by ``<name>_file``
    (or, for a webhook header, which no ``_file`` can hold, by an environment variable)."""
    for key, value in receiver.spec.settings.items():
        if isinstance(value, SecretStr):
            file = f"{receiver.name}-{key}"
            receiver.secrets[file] = value.get_secret_value()
            receiver.settings[f"{key}_file"] = f"${{{SECRETS_ENV}:-secrets}}/{file}"
        elif key == "headers" and isinstance(value, dict):
            headers: dict[str, str] = {}
            for header, secret in value.items():
                text = secret.get_secret_value() if isinstance(secret, SecretStr) else str(secret)
                if header in PLAIN_HEADERS:
                    headers[header] = text
                    continue
                file = f"{receiver.name}-header-{header}"
                variable = re.sub(r"[^A-Z0-9]", "_", f"HERALD_{receiver.name}_{header}".upper())
                receiver.secrets[file] = text
                receiver.env[variable] = file
                headers[header] = f"${{{variable}:-}}"
            receiver.settings[key] = headers
        elif key == "custom_body":
            receiver.settings[key] = _Block(str(value))
        else:
            receiver.settings[key] = value


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def _root(receivers: list[Receiver]) -> str:
    """The root route's receiver, which gets what no child route matches: a sink whose filters
    pass every incident of processor.min_severity warning, else one no notifier runs for. If a
    sink wants Normal events (min_severity info, as the note says), none passes everything."""
    warning = kube_eventer_matchers(level="Warning")
    if any(_wants_normal(r) for r in receivers):
        return UNROUTED
    return next((r.name for r in receivers if all(m in warning for m in r.spec.matchers)), UNROUTED)


def _wants_normal(receiver: Receiver) -> bool:
    return NORMAL_NOTE in receiver.spec.notes


def _source_warning(value: str) -> list[str]:
    kind, _, rest = value.partition(":")
    parts = urlsplit(rest)
    if kind == "kubernetes" and (parts.hostname or "kubernetes.default").startswith("kubernetes.default"):
        options = {p.split("=", 1)[0] for p in parts.query.split("&") if p}
        if options <= {"inClusterConfig", "useServiceAccount", "insecure", "auth"}:
            return []
    return [
        f"warning: --source={kind}:{redact_url(rest) if rest else ''}: carried over as the cluster the "
        "producer runs in (producer.clusters[].in_cluster); to watch another cluster give the producer a "
        "kubeconfig entry (docs/configuration.md)"
    ]


def _zone(value: str, warnings: list[str]) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        warnings.append(
            f"warning: TZ={value}: not carried over: not an IANA time zone name (e.g. Asia/Shanghai)"
        )
        return None
    return value


def _cluster_id(
    given: str | None, receivers: list[Receiver], source: Source, warnings: list[str]
) -> tuple[str, str]:
    if given is not None:
        if not re.match(CLUSTER_ID_PATTERN, given):
            raise MigrateError(f"--cluster {given!r}: expected lower-case letters, digits, '.', '_' or '-'")
        return given, "--cluster"
    candidates = [
        (str(r.spec.settings.get("keyword", "")).split(" ")[0], f"the label of sink {r.name}")
        for r in receivers
    ]
    if source.context:
        candidates.append((source.context, f"the kubeconfig context {source.context}"))
    for raw, why in candidates:
        guess = re.sub(r"[^a-z0-9._-]+", "-", raw.lower()).strip("-._")[:63]
        if guess and re.match(CLUSTER_ID_PATTERN, guess):
            warnings.append(
                f"note: cluster id {guess!r} taken from {why}; pass --cluster ID to choose another"
            )
            return guess, f"from {why}; --cluster sets it"
    warnings.append(
        "note: cluster id 'default' chosen; pass --cluster ID to name this cluster in every message"
    )
    return "default", "no sink label or context to take it from; --cluster sets it"


def shown_sink(uri: str) -> str:
    """A sink as written, with every value that could be a secret redacted."""
    text = uri.strip().removeprefix("--sink=")
    kind, colon, rest = text.partition(":")
    try:
        parts = urlsplit(rest)
    except ValueError:
        return f"{kind}:{REDACTED}"
    base = redact_url(rest.split("?", 1)[0]) if rest.split("?", 1)[0] else ""
    pairs = []
    for pair in parts.query.split("&"):
        if not pair:
            continue
        name, equals, value = pair.partition("=")
        if name == "header":
            header = value.partition("=")[0]
            value = f"{header}={value.partition('=')[2] if header.lower() in PLAIN_HEADERS else REDACTED}"
        elif name not in SHOWN_PARAMETERS:
            value = REDACTED
        pairs.append(f"{name}{equals}{value}")
    query = "&".join(pairs)
    return f"{kind}{colon}{base}{'?' + query if query else ''}"


# --- herald.yaml -------------------------------------------------------------------------------


class _Block(str):
    """A string written as a YAML literal block (``|``)."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        """Indent a list under its key, as the rest of kube-herald's YAML is written."""
        super().increase_indent(flow, False)


def _block(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


_Dumper.add_representer(_Block, _block)


def _dump(value: Any, indent: int = 0) -> str:
    text = yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def _comment(text: str, indent: int = 0) -> str:
    """YAML comment lines; long ones wrapped (a sink as written is one word, kept whole)."""
    lines = [
        wrapped
        for line in text.splitlines()
        for wrapped in textwrap.wrap(line, 96 - indent, break_long_words=False, break_on_hyphens=False)
    ]
    return "".join(f"{' ' * indent}# {line}\n" for line in lines)


def herald_yaml(plan: Plan) -> str:
    """The configuration, commented: where each part came from and what it means now."""
    out = _comment(
        f"kube-herald, carried over by `herald migrate kube-eventer` on {plan.made:%Y-%m-%d}\n"
        f"from {plan.source.described}.\n"
        "Every key: docs/configuration.md. Check: herald -c herald.yaml check-config;\n"
        "each receiver's message for a sample incident: herald -c herald.yaml render.\n"
        "No secret is in this file: each *_file names a file in secrets/ beside it, or in\n"
        f"${SECRETS_ENV}, where the notifier pods mount the Secret made from secrets/."
    )
    out += "kafka:\n"
    out += _comment("kube-herald needs Kafka (kube-eventer did not): every stage reads and writes topics.", 2)
    out += _dump({"bootstrap_servers": plan.bootstrap, "topic_prefix": "herald.", "partitions": 6}, 2)
    out += "  # replication_factor: 3   # of the topics kube-herald creates; at most the broker count\n"
    out += "producer:\n  clusters:\n"
    out += _comment(
        f"this cluster's id, carried by every event and shown in messages\n({plan.cluster_why})", 4
    )
    out += _dump([{"cluster": plan.cluster, "in_cluster": True}], 4)
    out += "  metrics_port: 9464\n"
    out += "processor:\n"
    out += _dump({"store": "rocksdb://", "data_dir": "/var/lib/herald/data", "metrics_port": 9466}, 2)
    normal = [r.name for r in plan.receivers if _wants_normal(r)]
    if normal:
        out += f"  # min_severity: info   # Normal events too, as kube-eventer sent {', '.join(normal)}\n"
    out += "notifier:\n  http_port: 9465\n"
    if plan.timezone:
        out += f"  timezone: {plan.timezone}   # the container's TZ: times are shown in this zone\n"
    if plan.language:
        out += f"  language: {plan.language}   # {plan.language_why}\n"
    out += "receivers:\n"
    for receiver in plan.receivers:
        out += _comment(f"--sink={receiver.shown}", 2)
        for note in receiver.spec.notes:
            out += _comment(note, 2)
        for variable in receiver.env:
            out += _comment(f"${variable}: from the Secret (secrets/{receiver.env[variable]})", 2)
        out += _dump([{"name": receiver.name, "type": receiver.spec.type, **receiver.settings}], 2)
    if plan.root == UNROUTED:
        out += _comment(
            "Takes what no sink's filters pass. No notifier runs for it (none in the manifests),\n"
            "so those incidents are not sent, as kube-eventer's sinks dropped what they filtered.",
            2,
        )
        out += _dump([{"name": UNROUTED, "type": "console"}], 2)
    out += "route:\n"
    out += _comment("Every sink saw every event its filters passed: one child route each, continue: true.", 2)
    out += _dump({"receiver": plan.root}, 2)
    out += "  routes:\n"
    for receiver in plan.receivers:
        route: dict[str, Any] = {"receiver": receiver.name}
        if receiver.spec.matchers:
            route["matchers"] = [str(m) for m in receiver.spec.matchers]
        route["continue"] = True
        out += _dump([route], 4)
    return out


# --- the manifests -----------------------------------------------------------------------------


def _packaged(name: str) -> str:
    return (files("herald") / "data" / "migrate" / name).read_text(encoding="utf-8")


def notifier_manifest(receiver: Receiver) -> str:
    """deploy/kubernetes/notifier-wecom.yaml for this receiver, mounting its secrets only."""
    documents = [d for d in yaml.safe_load_all(_packaged("notifier.yaml")) if d]
    full = f"herald-notifier-{receiver.name}"
    for doc in documents:
        doc["metadata"]["name"] = full
        _relabel(doc, receiver.name)
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        container["args"] = [*container["args"][:-1], receiver.name]
        env = [e for e in container.get("env", []) if "secretKeyRef" not in (e.get("valueFrom") or {})]
        files_ = [f for f in receiver.secrets if f not in receiver.env.values()]
        if files_:
            env.append({"name": SECRETS_ENV, "value": SECRETS_MOUNT})
            container["volumeMounts"].append(
                {"name": "secrets", "mountPath": SECRETS_MOUNT, "readOnly": True}
            )
            pod["volumes"].append(
                {
                    "name": "secrets",
                    "secret": {
                        "secretName": SECRET_NAME,
                        "items": [{"key": f, "path": f} for f in files_],
                        "defaultMode": 0o440,
                    },
                }
            )
            pod["securityContext"]["fsGroup"] = pod["securityContext"]["runAsGroup"]
        for variable, file in receiver.env.items():
            env.append({"name": variable, "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": file}}})
        container["env"] = env
    header = _comment(
        f"`herald notifier --receiver {receiver.name}`, from deploy/kubernetes/notifier-wecom.yaml\n"
        "(docs/operations.md): one Deployment per receiver, each its own consumer group.\n"
        f"It mounts only its own keys of the Secret {SECRET_NAME} at {SECRETS_MOUNT} (mode 0440,\n"
        f"group of the image's user), which herald.yaml's *_file paths name through ${SECRETS_ENV}."
    )
    return header + yaml.safe_dump_all(documents, sort_keys=False)


def _relabel(value: Any, name: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "app.kubernetes.io/instance":
                value[key] = name
            else:
                _relabel(item, name)
    elif isinstance(value, list):
        for item in value:
            _relabel(item, name)


def kustomization(plan: Plan) -> str:
    notifiers = [f"notifier-{r.name}.yaml" for r in plan.receivers]
    secrets = [f"secrets/{f}" for r in plan.receivers for f in r.secrets]
    body: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": HERALD_NAMESPACE,
        "resources": [*MANIFESTS, *notifiers],
        "configMapGenerator": [{"name": "herald-config", "files": ["herald.yaml"]}],
    }
    if secrets:
        body["secretGenerator"] = [{"name": SECRET_NAME, "type": "Opaque", "files": secrets}]
    if plan.image:
        body["images"] = [{"name": IMAGE, **_image(plan.image)}]
    body["labels"] = [{"pairs": {"app.kubernetes.io/part-of": "kube-herald"}, "includeSelectors": False}]
    return _comment(
        f"kube-herald beside kube-eventer ({plan.source.described}),\n"
        f"into namespace {HERALD_NAMESPACE}: kubectl apply -k <this directory>.\n"
        "The ConfigMap herald-config is made from herald.yaml. The Secret herald-secrets is made\n"
        "from secrets/, which holds the receivers' credentials in the clear: SENSITIVE, never\n"
        "commit it (.gitignore here leaves it out). The generated names carry a hash of the\n"
        "content, so a changed herald.yaml or secret rolls the pods that use it."
    ) + yaml.safe_dump(body, sort_keys=False)


def _image(reference: str) -> dict[str, str]:
    """kustomize's newName, and newTag or digest, of ``registry/name:tag`` or ``name@sha256:…``."""
    name, at, digest = reference.partition("@")
    if at:
        return {"newName": name, "digest": digest}
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return {"newName": name[:colon], "newTag": name[colon + 1 :]}
    return {"newName": name}


def namespace_manifest() -> str:
    return _comment(
        "kube-herald's own namespace (kustomization.yaml puts everything in it)."
    ) + yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": HERALD_NAMESPACE}}, sort_keys=False
    )


# --- writing -----------------------------------------------------------------------------------


def write(plan: Plan, out: Path, *, force: bool) -> list[tuple[Path, str]]:
    """Write every file, secrets with mode 0600; refuse a directory that is not empty unless ``force``."""
    if out.exists() and not out.is_dir():
        raise MigrateError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise MigrateError(f"{out}: not empty; pass --force to overwrite, or -o another directory")
    contents: list[tuple[str, str, str]] = [
        (
            "herald.yaml",
            herald_yaml(plan),
            f"{len(plan.receivers)} receiver(s): {', '.join(r.name for r in plan.receivers)}",
        ),
        ("kustomization.yaml", kustomization(plan), "kubectl apply -k"),
        ("namespace.yaml", namespace_manifest(), f"Namespace {HERALD_NAMESPACE}"),
        ("producer-rbac.yaml", _packaged("producer-rbac.yaml"), "the producer reads Events, nothing else"),
        ("producer.yaml", _packaged("producer.yaml"), "Deployment herald-producer"),
        ("processor.yaml", _packaged("processor.yaml"), "StatefulSet herald-processor"),
        *(
            (f"notifier-{r.name}.yaml", notifier_manifest(r), f"Deployment herald-notifier-{r.name}")
            for r in plan.receivers
        ),
        (".gitignore", "# the receivers' credentials, in the clear\nsecrets/\n", "keeps secrets/ out of git"),
    ]
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text, what in contents:
            (out / name).write_text(text, encoding="utf-8")
            written.append((out / name, what))
        secrets = [(f, v) for r in plan.receivers for f, v in r.secrets.items()]
        if secrets:
            directory = out / "secrets"
            directory.mkdir(mode=0o700, exist_ok=True)
            directory.chmod(0o700)
            for name, value in secrets:
                _write_secret(directory / name, value)
                written.append((directory / name, "secret, mode 0600"))
    except OSError as exc:
        raise MigrateError(f"{out}: cannot write ({exc.strerror or type(exc).__name__})") from None
    return written


def _write_secret(path: Path, value: str) -> None:
    """The value exactly (no newline: an environment variable made from it gets it all)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file (--force) keeps its mode otherwise
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(value)
