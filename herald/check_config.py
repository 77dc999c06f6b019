"""``herald check-config``: every mistake in the file at once, before anything runs.

The file is loaded in check mode (``load_config(mode="check")``): every problem of the shared
sections is collected rather than raised, a section with errors is left at its defaults, and
unset variables in receivers' settings stand for placeholders, so nothing hides another
mistake. Each receiver entry is then built the way
its notifier would build it (``build_receiver``), so its own settings are checked too,
without sending anything, and its templates are rendered on sample incidents
(herald/template_check.py). The effective configuration, defaults filled in, is printed
with every secret masked.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import yaml
from pydantic import BaseModel, SecretStr

from herald.template_check import check_templates, link_issue
from notifiers.receivers import REGISTRY, Receiver
from notifiers.runner import build_receiver
from notifiers.sinks import KUBE_EVENTER, KubeEventerEntry
from notifiers.templating import BrokenTemplateError
from runtime.config import ConfigError, ConfigIssue, HeraldConfig, did_you_mean
from runtime.redact import url_secrets

MASK = "**********"
"""How every secret is shown: the same mask pydantic uses, whatever the secret's length."""

MIN_SCRUBBED = 4
"""Shorter secret values are not searched for in the output (they would mask ordinary words)."""


def check_config(config: HeraldConfig, *, quiet: bool = False) -> int:
    """Print the effective config (unless ``quiet``) and return 0, or print the errors and return 2."""
    issues: list[ConfigIssue] = config.problems
    warnings: list[ConfigIssue] = []
    receivers: list[Receiver] = []
    effective: list[BaseModel] = []
    types = sorted([*REGISTRY, KUBE_EVENTER])
    for index, entry in enumerate(config.receivers):
        if index in config.unchecked_receivers:
            continue
        if entry.type not in types:
            at = ("receivers", index, "type")
            hint = did_you_mean(entry.type, types) or f" (one of {', '.join(types)})"
            issues.append(config.issue_at(at, f"unknown receiver type {entry.type!r}{hint}"))
            continue
        try:
            receivers.append(build_receiver(config, entry.name)[0])
            effective.append(receiver_settings(config, index))
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        except BrokenTemplateError as exc:
            issues.append(link_issue(config, exc))
            continue
        if isinstance(effective[-1], KubeEventerEntry):
            at = ("receivers", index, "sink")
            warnings.extend(config.issue_at(at, note) for note in effective[-1].spec.notes)
        templates = check_templates(config, index, effective[-1])
        issues.extend(templates.errors)
        warnings.extend(templates.warnings)
        receivers.extend(templates.receivers)
    asyncio.run(_close(receivers))
    secrets = [*secret_values(config), *(value for model in effective for value in secret_values(model))]
    if warnings and not quiet:
        print(scrub("configuration warning:\n" + "\n".join(map(str, warnings)), secrets), file=sys.stderr)
    if issues:
        # In file order; the link template's once, not once for every receiver.
        shown = dict.fromkeys(
            map(str, sorted(issues, key=lambda issue: (issue.line is None, issue.line or 0)))
        )
        print(scrub("configuration error:\n" + "\n".join(shown), secrets), file=sys.stderr)
        return 2
    if not quiet:
        document = config.model_dump(mode="json", by_alias=True)
        document["receivers"] = [
            {
                **model.model_dump(mode="json", by_alias=True),
                **dict(zip(("language", "timezone"), config.locale(entry.name), strict=True)),
            }
            for model, entry in zip(effective, config.receivers, strict=True)
        ]
        print(f"# {config.source_file}: valid; secrets shown as {MASK}")
        print(scrub(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), secrets), end="")
    return 0


def receiver_settings(config: HeraldConfig, index: int) -> BaseModel:
    """A receiver entry as its model read it: defaults filled in, ``*_file`` secrets read."""
    entry = config.receivers[index]
    model = KubeEventerEntry if entry.type == KUBE_EVENTER else REGISTRY[entry.type].config_model
    return config.validate_section(("receivers", index), model, entry.settings())


def secret_values(value: object) -> Iterator[str]:
    """Every secret held in a validated config, and the token-like parts of secret URLs."""
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        yield secret
        yield from (part for part in url_secrets(secret) if len(part) >= 12)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from secret_values(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from secret_values(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from secret_values(item)


def scrub(text: str, secrets: list[str]) -> str:
    """A last line of defence: a secret copied into a plain setting is masked there too."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_SCRUBBED}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


async def _close(receivers: list[Receiver]) -> None:
    for receiver in receivers:
        await receiver.aclose()
