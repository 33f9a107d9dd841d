"""The ``innsight`` command: ``demo``, ``hub serve``, ``edge run|check-config``, ``provision``.

Each subcommand imports its own stack lazily, so ``edge check-config`` works on a box without the
hub's dependencies and ``--help`` is instant. ``provision`` (provisioning/cli.py) and ``models``
slot in the same way.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from innsight.hub_cli_args import ROLE_CHAIN, add_role_argument

EXIT_CONFIG = 2


def _configure_logging(level: str, log_format: str = "text") -> None:
    # text lines, or one JSON object per line with the request id (docs/observability.md)
    from hub.observability.logs import configure_logging, log_format_of

    try:
        chosen = log_format_of(log_format)
    except ValueError as err:  # INNSIGHT_LOG_FORMAT=yaml: say so, keep logging
        print(f"INNSIGHT_LOG_FORMAT: {err}; using text", file=sys.stderr)
        chosen = "text"
    configure_logging(level, chosen)


def _cmd_demo(args: argparse.Namespace) -> int:
    from innsight.demo.run import DemoOptions, run_demo

    options = DemoOptions(
        once=args.once,
        json_output=args.json,
        data_dir=args.data_dir,
        api_port=args.port,
        broker=args.broker,
    )
    return run_demo(options)


def _cmd_hub_serve(args: argparse.Namespace) -> int:
    from hub.serve import serve
    from hub.settings import HubSettings

    settings = HubSettings.from_env(os.environ)
    overrides = {k: v for k, v in (("api_host", args.host), ("api_port", args.port)) if v}
    if overrides:
        settings = settings.model_copy(update=overrides)
    from innsight.hub_data_cli import refuse_newer_database

    refused = refuse_newer_database(settings)  # exit 6 with the reason, before uvicorn starts
    if refused is not None:
        return refused
    if args.role == ROLE_CHAIN:  # a chain of hotels' read-only view (docs/chain.md)
        from hub.api.chain_app import serve_chain

        if getattr(args, "workers", 1) != 1:
            print("--workers: the chain hub runs as one process", file=sys.stderr)
            return EXIT_CONFIG

        serve_chain(settings)
        return 0
    serve(settings, workers=args.workers)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{text}: give 1 to 64")
    return value


def _cmd_edge_check_config(args: argparse.Namespace) -> int:
    from edge_agent.config import ConfigError, load_config

    try:
        config = load_config(args.file)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    print(
        f"{args.file}: OK — device {config.device_id} at site {config.site}, "
        f"{len(config.cameras)} camera(s)"
    )
    return 0


def _cmd_edge_run(args: argparse.Namespace) -> int:
    from edge_agent.app import run_agent
    from edge_agent.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    return run_agent(config, until_sources_end=args.until_end)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="innsight", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default=os.environ.get("INNSIGHT_LOG_LEVEL", "info"))
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("INNSIGHT_LOG_FORMAT", "text").strip().lower() or "text",
        help="text lines, or one JSON object per line (env: INNSIGHT_LOG_FORMAT)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="hub + broker + one edge agent on a bundled clip")
    demo.add_argument("--once", action="store_true", help="exit when the clip is processed")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument("--data-dir", type=Path, default=None, help="keep state here (default: temp)")
    demo.add_argument("--port", type=int, default=None, help="hub API port (default: free port)")
    demo.add_argument(
        "--broker",
        choices=("auto", "mosquitto", "embedded"),
        default="auto",
        help="auto: Mosquitto when installed, else the embedded amqtt broker",
    )
    demo.set_defaults(func=_cmd_demo)

    hub = sub.add_parser("hub", help="the hotel's central server").add_subparsers(
        dest="hub_command", required=True
    )
    serve = hub.add_parser("serve", help="run the REST API and the MQTT ingest (env: INNSIGHT_*)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="API worker processes on this port (they agree through the database: "
        "docs/scale-out.md)",
    )
    add_role_argument(serve)
    serve.set_defaults(func=_cmd_hub_serve)

    edge = sub.add_parser("edge", help="the camera appliance agent").add_subparsers(
        dest="edge_command", required=True
    )
    run = edge.add_parser("run", help="run the agent")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument(
        "--until-end", action="store_true", help="stop when file sources end and all is acked"
    )
    run.set_defaults(func=_cmd_edge_run)
    check = edge.add_parser("check-config", help="validate a config file; errors name the line")
    check.add_argument("file", type=Path)
    check.set_defaults(func=_cmd_edge_check_config)

    # stdlib-only: --version, hub init|users|token|install-service, edge install-service
    from innsight.ops_cli import add_ops_parsers

    add_ops_parsers(parser, hub=hub, edge=edge)

    # stdlib-only: hub migrate|backup|restore (Alembic and the backup code load when they run)
    from innsight.hub_data_cli import add_hub_data_parsers

    add_hub_data_parsers(hub)

    # stdlib-only: hub audit verify (SQLAlchemy and the hub's tables load when it runs)
    from innsight.audit_cli import add_audit_parser

    add_audit_parser(hub)

    # stdlib-only: hub gallery rekey (the hub and the face model load when it runs)
    from innsight.gallery_cli import add_gallery_parser

    add_gallery_parser(hub)

    # stdlib-only: hub privacy report (the hub's tables and the model manifest load when it runs)
    from innsight.privacy_cli import add_privacy_parser

    add_privacy_parser(hub)

    # stdlib-only: hub ingest (an MQTT ingest worker; the hub loads when it runs)
    from innsight.ingest_cli import add_ingest_parser

    add_ingest_parser(hub)

    # stdlib-only: hub import KIND FILE (the hub's importer loads when it runs)
    from innsight.hotel_cli import add_import_parser

    add_import_parser(hub)

    # stdlib-only parser module; its handlers import cryptography and the hub DB when they run
    from provisioning.cli import add_provision_parser

    add_provision_parser(sub)

    # argparse-only parser module; its handlers import pandas, LightGBM and the hub DB
    from hub.ml.cli import add_ml_parser

    add_ml_parser(sub)

    # argparse-only parser module; its handlers import the registry (pydantic, yaml), onnxruntime
    from models.cli import add_models_parser

    add_models_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level, args.log_format)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
