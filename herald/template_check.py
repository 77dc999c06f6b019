"""Templates are configuration: ``check-config`` renders every receiver's templates before
anything runs, and reports a broken one at the setting that names it.

Each receiver is built as its notifier builds it, once per language (en and zh, in its own
time zone), and previews the sample notifications of ``herald render`` and the golden tests:
a firing incident, a digest of three, a quiet close and a recovery close. A template that
raises is an error at its setting, naming the template file and its line. A template that
reads only the first incident (``incident``, ``incidents[0]``) and never ``incidents`` as a
whole would drop the rest of a digest: an error when the receiver sends digests (it has
``rate_limits``), a warning when it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from notifiers.preview import localized, scenarios
from notifiers.receivers import Receiver
from notifiers.runner import build_receiver
from notifiers.sinks import KUBE_EVENTER
from notifiers.templating import BrokenTemplateError, Renderer, TemplateRef, recording
from runtime.config import ConfigIssue, HeraldConfig
from schemas.base import utc_now
from schemas.categories import Language

LANGUAGES: tuple[Language, ...] = ("en", "zh")
HEADLINE_SETTINGS = frozenset({"title_template", "subject_template"})
"""Settings of a one-line heading, where naming a digest's first incident beside the count
is the point: warned about when they name only one, never rejected."""
LOOP_HINT = "loop over them: {% for incident in incidents %}…{% endfor %}"
UNDEFINED_HINT = "; `herald render --list-vars` lists what templates can use"


@dataclass
class TemplateFindings:
    errors: list[ConfigIssue] = field(default_factory=list)
    warnings: list[ConfigIssue] = field(default_factory=list)
    receivers: list[Receiver] = field(default_factory=list)
    """Built here, for the caller to close."""


@dataclass
class _Renderings:
    """What rendering the samples showed: each failure, with the renderings that hit it, and
    each template rendered, with whether it was ever for a digest."""

    index: int
    settings: BaseModel
    reader: Renderer
    failures: dict[tuple[tuple[str | int, ...], str], list[str]] = field(default_factory=dict)
    uses: dict[TemplateRef, bool] = field(default_factory=dict)
    total: int = 0

    def render(self, receiver: Receiver, language: Language) -> None:
        for sample, notification in scenarios(utc_now()).items():
            self.total += 1
            with recording() as used:
                try:
                    receiver.preview(notification)
                except BrokenTemplateError as exc:
                    hint = UNDEFINED_HINT if exc.undefined else ""
                    text = f"{self.reader.origin(exc.template)}{exc.where}: {exc.reason}{hint}"
                    self._failed(_setting(exc.template, self.index, self.settings), text, sample, language)
                except Exception as exc:  # whatever rendering raised is this receiver's error, not a crash
                    path = _named_setting(str(exc), self.index, self.settings)
                    self._failed(path, f"rendering failed: {exc}", sample, language)
            for ref, digest in used.items():
                self.uses[ref] = self.uses.get(ref, False) or digest

    def _failed(self, path: tuple[str | int, ...], text: str, sample: str, language: Language) -> None:
        self.failures.setdefault((path, text), []).append(f"the {sample} sample in {language}")


def check_templates(config: HeraldConfig, index: int, settings: BaseModel) -> TemplateFindings:
    """Render receiver ``index``'s templates on every sample in both languages; ``settings`` is
    its entry as its model read it (``check_config.receiver_settings``)."""
    found = TemplateFindings()
    reader = Renderer(templates_dir=config.notifier.templates_dir)
    seen = _Renderings(index, settings, reader)
    name = config.receivers[index].name
    for language in LANGUAGES:
        try:
            receiver = build_receiver(localized(config, name, language=language, timezone=None), name)[0]
        except BrokenTemplateError:  # the link template does not compile: reported with the build's errors
            return found
        found.receivers.append(receiver)
        seen.render(receiver, language)
    for (path, text), cases in seen.failures.items():
        more = f"; {len(cases)} of {seen.total} renderings fail" if len(cases) > 1 else ""
        found.errors.append(issue(config, path, f"{text} (rendering {cases[0]}{more})"))
    digests = bool(found.receivers and found.receivers[0].rate_limits)
    for ref, digest in seen.uses.items():
        read = reader.first_incident_only(ref) if digest else None
        if read is None:
            continue
        path = _setting(ref, index, settings)
        headline = path[-1] in HEADLINE_SETTINGS
        where = f"{read.template} line {read.line}" if read.template else f"line {read.line}"
        text = (
            f"{reader.origin(ref)} reads only the first incident (`{read.expression}` at {where}) and "
            "never `incidents` as a whole: "
        )
        if headline:
            text += "a digest's heading would name its first incident alone; add the count, "
            text += "{{ incidents | length }} {{ t.digest }}"
        else:
            text += f"a digest would show its first incident and drop the others; {LOOP_HINT}"
        if digests and not headline:
            found.errors.append(issue(config, path, text))
        else:
            later = "" if digests else " (this receiver has no rate_limits, so it sends no digest yet)"
            found.warnings.append(issue(config, path, text + later))
    return found


def link_issue(config: HeraldConfig, error: BrokenTemplateError) -> ConfigIssue:
    """``notifier.link_template`` does not compile: every receiver's build fails on it."""
    return issue(config, ("notifier", "link_template"), f"the link template{error.where}: {error.reason}")


def issue(config: HeraldConfig, path: tuple[str | int, ...], message: str) -> ConfigIssue:
    return config.issue_at(path, message)


def _template_settings(settings: BaseModel) -> list[tuple[str, str]]:
    """(key, value) of each setting of a receiver that names or holds a template."""
    return [
        (info.alias or name, value)
        for name, info in type(settings).model_fields.items()
        if name.endswith("template") and isinstance(value := getattr(settings, name), str)
    ]


def _setting(ref: TemplateRef, index: int, settings: BaseModel) -> tuple[str | int, ...]:
    """The key of the setting that names ``ref``: a kube-eventer sink's is its ``sink``."""
    if ref.kind == "link":
        return ("notifier", "link_template")
    if getattr(settings, "type", None) == KUBE_EVENTER:
        return ("receivers", index, "sink")
    for key, value in _template_settings(settings):
        if value == ref.text:
            return ("receivers", index, key)
    return ("receivers", index)


def _named_setting(message: str, index: int, settings: BaseModel) -> tuple[str | int, ...]:
    """The key of the template a receiver's own error names (``body template 'x.j2' did not
    render JSON``), else the receiver's."""
    if message.startswith("custom_body"):  # a Go body: the user's, or a kube-eventer sink's ConfigMap
        if getattr(settings, "custom_body_manifest", None):
            return ("receivers", index, "custom_body_manifest")
        sink = getattr(settings, "type", None) == KUBE_EVENTER
        return ("receivers", index, "sink" if sink else "custom_body")
    if getattr(settings, "type", None) == KUBE_EVENTER:
        return ("receivers", index, "sink")
    for key, value in _template_settings(settings):
        if repr(value) in message:
            return ("receivers", index, key)
    return ("receivers", index)
