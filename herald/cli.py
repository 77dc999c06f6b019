"""``herald``: a subcommand per process, sharing one configuration file."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from herald import analytics_cli, silence_cli, tail_cli, topics_cli
from runtime.config import (
    ConfigError,
    HeraldConfig,
    LoadMode,
    ProducerSettings,
    is_time_zone,
    load_config,
    time_zone_problem,
)
from runtime.errors import SetupError
from runtime.log import setup_logging

log = logging.getLogger("herald")


def _parser() -> argparse.ArgumentParser:
    """The whole command tree; each subcommand's options are in a function of their own, listed here in
    the order help and completion show them."""
    parser = argparse.ArgumentParser(
        prog="herald",
        description="kube-herald: Kubernetes events to incidents to chat, over Kafka.",
    )
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_producer_parsers(sub)
    _add_simulate_parser(sub)
    _add_processor_parser(sub)
    analytics_cli.add_parser(sub)
    _add_notifier_parser(sub)
    silence_cli.add_parser(sub)
    tail_cli.add_parser(sub)
    _add_render_parser(sub)
    _add_check_config_parser(sub)
    topics_cli.add_parser(sub)
    _add_migrate_parser(sub)
    _add_demo_parser(sub)
    _add_completion_parser(sub)
    _finish(parser)
    return parser


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    """Options every subcommand shares: they come before its name (``herald -c FILE COMMAND``)."""
    parser.add_argument("-c", "--config", type=Path, help="configuration file (default: $HERALD_CONFIG)")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="the least severe level logged",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="text lines, or JSON: one object a line (default: logging.format in the file, else text)",
    )
    parser.add_argument("--log-json", action="store_true", help="the same as --log-format json")


def _add_producer_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``herald producer`` and ``herald replay``: the two ways events reach the raw topic."""
    producer = sub.add_parser(
        "producer",
        help="watch the configured clusters' Events and publish every occurrence to the raw topic",
        description="Watch the cluster's Events (list, then watch with bookmarks, relist when too old) "
        "and publish every occurrence to the raw topic; resumes from its checkpoint after a restart.",
    )
    producer.add_argument(
        "--events-file",
        type=Path,
        help="publish a JSON-lines file of Events (or envelopes) once, instead of watching "
        "(default: watch the cluster)",
    )
    producer.add_argument("--cluster", help="cluster id (overrides producer.cluster; default: that setting)")

    replay = sub.add_parser(
        "replay",
        help="publish a JSON-lines file of Events at a chosen speed",
        description="Publish a JSON-lines file of Events (or envelopes) to the raw topic, spaced as "
        "their timestamps were, SPEED times faster.",
    )
    replay.add_argument("file", type=Path, help="JSON lines of Event objects or envelopes (required)")
    replay.add_argument("--speed", type=float, default=1.0, help="times real time; 0 = as fast as possible")
    replay.add_argument(
        "--cluster",
        help="cluster id for bare Event objects (overrides producer.cluster; default: that setting, "
        "else replay)",
    )


def _add_simulate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``herald simulate``: a stream of events without a cluster, for demos and load."""
    simulate = sub.add_parser(
        "simulate",
        help="publish a realistic simulated event stream (no cluster needed)",
        description="Publish a realistic simulated stream of Events (crash loops, failed pulls, node "
        "pressure, ...) from one or more pretend clusters to the raw topic, or to a file. The "
        "same --seed gives the same stream; --list-scenarios describes them.",
    )
    simulate.add_argument("--clusters", type=int, default=1, help="how many simulated clusters")
    simulate.add_argument("--cluster-prefix", default="sim", help="cluster ids are PREFIX-1, PREFIX-2, ...")
    simulate.add_argument("--rate", type=float, default=20.0, help="events per second, all clusters together")
    simulate.add_argument("--duration", type=float, default=60.0, help="simulated seconds; 0 = forever")
    simulate.add_argument(
        "--seed", type=int, default=0, help="random seed: the same seed gives the same stream"
    )
    simulate.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="only these scenarios (repeatable; default: every scenario)",
    )
    simulate.add_argument("--speed", type=float, default=1.0, help="times real time; 0 = as fast as possible")
    simulate.add_argument(
        "--output", type=Path, help="write envelopes as JSON lines here (default: the raw topic in Kafka)"
    )
    simulate.add_argument("--list-scenarios", action="store_true", help="describe the scenarios and exit")


def _add_processor_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``herald processor``: one Faust worker."""
    processor = sub.add_parser(
        "processor",
        help="run a processing worker (Faust)",
        description="Run a processing worker: normalize and classify raw events, group them into "
        "incidents and publish their updates to the alerts topic. Run several for more partitions.",
    )
    processor.add_argument("--instance-id", help=INSTANCE_ID_HELP.format(section="processor"))


def _add_notifier_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``herald notifier``: one receiver's deliveries, optionally its HTTP endpoints."""
    notifier = sub.add_parser(
        "notifier",
        help="deliver incidents to one receiver",
        description="Deliver incident updates to one receiver (silences, dedup, grouping, retries), "
        "and optionally serve metrics, health, the silences API and pages.",
    )
    notifier.add_argument("--receiver", required=True, help="name of a receiver in the config (required)")
    notifier.add_argument(
        "--http-port",
        type=int,
        help="serve metrics, health and the silences API (overrides notifier.http_port; default: that "
        "setting, else not served)",
    )
    notifier.add_argument("--instance-id", help=INSTANCE_ID_HELP.format(section="notifier"))


def _add_render_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``herald render``: a receiver's message for a sample incident, sending nothing."""
    render = sub.add_parser(
        "render",
        help="print what a receiver would send for a sample incident",
        description="Print what a receiver would send for a sample incident (or --incident FILE), "
        "rendered by its templates; nothing is sent. Exit 2 if a template fails.",
    )
    render.add_argument("--receiver", help="name of a receiver in the config (default: every receiver)")
    render.add_argument("--incidents", type=int, default=1, help="more than 1 renders a digest")
    render.add_argument(
        "--resolved",
        nargs="?",
        const="recovery",
        choices=["recovery", "quiet"],
        help="render the closing update: recovery (an Event proved it, the default value) or quiet "
        "(no new Event for resolve_timeout_seconds) (default: the firing update)",
    )
    render.add_argument(
        "--incident",
        type=Path,
        help="an Incident as JSON, e.g. from the alerts topic (default: a built-in sample)",
    )
    render.add_argument(
        "--language", choices=["en", "zh"], help="override the receiver's language (default: the receiver's)"
    )
    render.add_argument(
        "--timezone",
        help="override the receiver's time zone, e.g. Asia/Shanghai (default: the receiver's)",
    )
    render.add_argument(
        "--list-vars",
        action="store_true",
        help="list the variables and filters every template can use (docs/templates.md), and exit",
    )


def _add_check_config_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``herald check-config``: the whole file validated, secrets masked."""
    check = sub.add_parser(
        "check-config",
        help="validate the file, every receiver included (nothing is sent), and print the effective "
        "config with secrets masked; exit 2 on errors",
        description="Validate the configuration file, every receiver included (nothing is sent), and "
        "print the effective configuration with secrets masked. Exit 2 on errors.",
    )
    check.add_argument("--quiet", action="store_true", help="print only errors")


def _add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``herald demo``: the whole pipeline on a simulated cluster."""
    demo = sub.add_parser(
        "demo",
        help="run the whole pipeline on a simulated cluster, printing alerts",
        description="Run producer, processor and a console notifier together on a simulated cluster "
        "and print the alerts they deliver; needs only the Kafka broker of the config.",
    )
    demo.add_argument(
        "--events-file",
        type=Path,
        help="replay these events instead of a simulated cluster (default: a simulated cluster)",
    )
    demo.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")


def _add_completion_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``herald completion SHELL``: printed while parsing, so it needs no configuration file."""
    completion = sub.add_parser(
        "completion",
        help="print a shell completion script: source <(herald completion bash)",
        description="Print a completion script for bash or zsh, generated from these commands and "
        "options. Load it with: source <(herald completion bash), or put it in your completions "
        "directory (e.g. /etc/bash_completion.d/herald).",
    )
    completion.add_argument(
        "shell", choices=["bash", "zsh"], action=_PrintCompletion, help="the shell (required)"
    )


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` where the help does not already say what the default is, and
    never ``(default: None)``: an option without a value there says in words what happens."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        unsaid = action.default is None or isinstance(action.default, bool) or action.default == []
        if "default" in text or "required" in text or unsaid:
            return text
        return super()._get_help_string(action)


def _finish(parser: argparse.ArgumentParser) -> None:
    """Every parser of the tree gets the formatter, and a description (its help, as a sentence)
    unless it has its own: ``herald X --help`` always says what X does."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, child in action.choices.items():
            if child.description is None and helps.get(name):
                text = str(helps[name])
                child.description = text[0].upper() + text[1:] + "."
            _finish(child)


class _PrintCompletion(argparse.Action):
    """Prints the script while parsing, as --version does: no configuration file is needed."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        from herald.completion import script

        print(script(_parser(), str(values)), end="")
        parser.exit()


def _add_migrate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``herald migrate kube-eventer``; herald/migrate.py does the work (and loads the kubernetes client)."""
    migrate = sub.add_parser(
        "migrate",
        help="carry another tool's setup over to kube-herald",
        description="Carry another tool's setup over to kube-herald: its sinks become receivers, "
        "written as a herald.yaml and manifests to review before applying.",
    )
    tools = migrate.add_subparsers(dest="migrate_from", required=True, metavar="FROM")
    eventer = tools.add_parser(
        "kube-eventer",
        help="a kube-eventer Deployment's sinks as herald.yaml, a Secret and the manifests to run beside it",
        description="Read a kube-eventer Deployment (a file, or deploy/NAME from the cluster) and the "
        "ConfigMaps its sinks name; write OUTDIR/herald.yaml, OUTDIR/secrets/ and a kustomization "
        "(kubectl apply -k OUTDIR). What cannot be carried over is listed on stderr, with why.",
    )
    _add_kube_eventer_inputs(eventer)
    _add_kube_eventer_outputs(eventer)


def _add_kube_eventer_inputs(eventer: argparse.ArgumentParser) -> None:
    """Where the Deployment and its ConfigMaps are read from: files, or the cluster."""
    where = eventer.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "-f",
        "--filename",
        type=Path,
        metavar="FILE",
        help="YAML with the Deployment and its ConfigMaps (this or deploy/NAME is required)",
    )
    where.add_argument(
        "deployment",
        nargs="?",
        metavar="deploy/NAME",
        help="read the Deployment from the cluster (this or -f is required)",
    )
    eventer.add_argument(
        "-n", "--namespace", default="kube-system", help="the Deployment's (default kube-system)"
    )
    eventer.add_argument(
        "--configmap",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="YAML with a ConfigMap (or Secret) the Deployment names; repeatable (default: only "
        "those in FILE, or read from the cluster)",
    )
    eventer.add_argument("--kubeconfig", help="kubeconfig file (default $KUBECONFIG, else ~/.kube/config)")
    eventer.add_argument("--context", help="kubeconfig context (default the current one)")


def _add_kube_eventer_outputs(eventer: argparse.ArgumentParser) -> None:
    """What the written herald.yaml and manifests say, and where they go."""
    eventer.add_argument(
        "--cluster", help="this cluster's id (default: a sink's label, else the context's name)"
    )
    eventer.add_argument(
        "--language", choices=["en", "zh"], help="of messages (default zh for Chinese templates)"
    )
    eventer.add_argument(
        "--kafka-bootstrap",
        default="kafka-bootstrap.kafka.svc:9092",
        metavar="HOST:PORT",
        help="the Kafka brokers kube-herald will use (default %(default)s)",
    )
    eventer.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        metavar="OUTDIR",
        default=Path("kube-herald"),
        help="where to write (default ./kube-herald)",
    )
    eventer.add_argument(
        "--image",
        help="the kube-herald image your cluster pulls, e.g. registry.example/kube-herald:0.1.0 "
        "(default: the image name kube-herald, unchanged)",
    )
    eventer.add_argument("--force", action="store_true", help="write into a directory that is not empty")


INSTANCE_ID_HELP = (
    "this replica's static consumer group member id, stable across its restarts "
    "(overrides {section}.instance_id; default $POD_NAME, else $HOSTNAME)"
)


def _with_instance_id(config: HeraldConfig, section: str, instance_id: str | None) -> HeraldConfig:
    """The config with ``--instance-id`` applied to a stage's section (validated like the file's value)."""
    if instance_id is None:
        return config
    current: BaseModel = getattr(config, section)
    data = {**current.model_dump(), "instance_id": instance_id}
    return config.model_copy(update={section: config.validate_section((section,), type(current), data)})


def _producer_settings(config: HeraldConfig, cluster: str | None) -> ProducerSettings | None:
    """The producer section, with ``--cluster`` applied (validated like the file's value)."""
    base = config.producer.model_dump() if config.producer else {}
    if cluster:
        base["cluster"] = cluster
    if "cluster" not in base:
        return None
    return config.validate_section(("producer",), ProducerSettings, base)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # A mistake the user can fix is one line each and exit 2: a ConfigError is located in the
    # file (FILE:LINE: key.path: what is wrong), a SetupError names the address, port or
    # setting. Anything else is a bug and keeps its traceback.
    try:
        if args.command == "migrate":  # writes a herald.yaml rather than reading one
            from herald.migrate import run as run_migrate

            return run_migrate(args)
        config = load_config(args.config, mode=LOAD_MODES.get(args.command, "strict"))
        log_format = "json" if args.log_json else args.log_format or config.logging.format
        setup_logging(args.log_level, json_lines=log_format == "json")
        return _dispatch(args, config)
    except (ConfigError, SetupError) as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _render(args: argparse.Namespace, config: HeraldConfig) -> int:
    """``herald render``: the named receiver's message, or every receiver's under its name.
    A template that fails is one line naming the receiver and the template's line, exit 2."""
    if args.list_vars:
        from herald.template_reference import variable_table

        print(variable_table())
        return 0
    from notifiers.errors import PermanentError
    from notifiers.preview import render_preview

    if args.timezone is not None and not is_time_zone(args.timezone):
        print(f"herald render: --timezone: {time_zone_problem(args.timezone)}", file=sys.stderr)
        return 2

    names = [args.receiver] if args.receiver else [entry.name for entry in config.receivers]
    for issue in (issue for name in names for issue in config.unset_secrets(name)):
        print(f"note: {issue}; rendered with a placeholder", file=sys.stderr)
    for name in names:
        if not args.receiver:
            print(f"── {name} ({config.receiver(name)[1].type}) ──")
        try:
            text = render_preview(
                config,
                name,
                incidents=args.incidents,
                closing=args.resolved,
                incident_file=args.incident,
                language=args.language,
                timezone=args.timezone,
            )
        except PermanentError as exc:
            index = config.receiver(name)[0]
            print(f"{config.source_file}: receivers[{index}] ({name}): {exc}", file=sys.stderr)
            return 2
        print(text)
    return 0


def _dispatch(args: argparse.Namespace, config: HeraldConfig) -> int:
    if args.command == "producer":
        return _producer(args, config)
    if args.command == "replay":
        from producer.replay import run_replay

        settings = _producer_settings(config, args.cluster) or ProducerSettings(cluster="replay")
        return run_replay(config, settings, args.file, speed=args.speed)
    if args.command == "simulate":
        return _simulate(args, config)
    if args.command == "analytics":
        return analytics_cli.run(config, args)
    if args.command == "processor":
        from processors.main import run_worker

        run_worker(
            _with_instance_id(config, "processor", args.instance_id),
            loglevel=args.log_level.lower().replace("warning", "warn"),
        )
        return 0
    if args.command == "notifier":
        from notifiers.main import run_notifier

        config.require_secrets(args.receiver)
        return run_notifier(
            _with_instance_id(config, "notifier", args.instance_id), args.receiver, http_port=args.http_port
        )
    if args.command == "render":
        return _render(args, config)
    if args.command in ADMIN_COMMANDS:
        return _admin(args, config)
    if args.command == "demo":
        from herald.demo import run_demo

        return run_demo(config_path=args.config, events_file=args.events_file, timeout=args.timeout)
    raise AssertionError(args.command)


def _producer(args: argparse.Namespace, config: HeraldConfig) -> int:
    """``herald producer``: unlike replay it needs a cluster id; an events file replaces the watch."""
    from producer.replay import run_replay

    settings = _producer_settings(config, args.cluster)
    if settings is None:
        print(f"{config.source_file}: producer.cluster: required (or pass --cluster)", file=sys.stderr)
        return 2
    if args.events_file:
        return run_replay(config, settings, args.events_file, speed=0, quiet=True)
    from producer.service import run_watch

    return run_watch(config, settings)


def _simulate(args: argparse.Namespace, config: HeraldConfig) -> int:
    """``herald simulate``: the scenarios described, or their stream published."""
    from producer.replay import run_simulate
    from producer.simulate import describe

    if args.list_scenarios:
        print(describe())
        return 0
    return run_simulate(
        config,
        config.producer,
        clusters=[f"{args.cluster_prefix}-{n}" for n in range(1, args.clusters + 1)],
        rate=args.rate,
        duration=args.duration or None,
        seed=args.seed,
        scenarios=args.scenario,
        speed=args.speed,
        output=args.output,
    )


LOAD_MODES: dict[str, LoadMode] = {
    **dict.fromkeys(
        (
            "producer",
            "replay",
            "simulate",
            "processor",
            "analytics",
            "topics",
            "silence",
            "tail",
            "render",
            "notifier",
        ),
        "lenient",
    ),
    "check-config": "check",
}
"""Commands that deliver nothing load receivers' unset ``${VAR}`` secrets as placeholders; a
notifier requires its own receiver's (``require_secrets``); check-config reports every problem."""

ADMIN_COMMANDS = ("silence", "tail", "check-config", "topics")
"""Commands that operate the pipeline rather than run a stage of it."""


def _admin(args: argparse.Namespace, config: HeraldConfig) -> int:
    if args.command in ("silence", "tail", "topics"):
        from runtime.kafka import reach

        # One quiet look first: no broker answering is one line and exit 2 (BrokerUnreachable).
        reach(config.kafka, timeout=getattr(args, "timeout", None))
    if args.command == "silence":
        return silence_cli.run(config, args)
    if args.command == "tail":
        return tail_cli.run(config, args)
    if args.command == "check-config":
        # Builds every receiver, so it loads the notifier stage: only when asked for.
        from herald.check_config import check_config

        return check_config(config, quiet=args.quiet)
    if args.command == "topics":
        return topics_cli.run(config, args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    raise SystemExit(main())
