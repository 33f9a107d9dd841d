"""``innsight hub audit verify``: check the audit trail's hash chain (issue 17).

Exit codes: 0 the chain is intact; 1 a row was edited, deleted or inserted (the first bad row
is named); 2 bad settings or the database cannot be read. The parser is standard library
only; the handler imports SQLAlchemy and the hub's tables when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from innsight.hub_cli_args import add_data_dir_argument

EXIT_OK = 0
EXIT_TAMPERED = 1
EXIT_USAGE = 2


def add_audit_parser(hub: Any) -> None:
    """Add ``audit verify`` to the ``innsight hub`` subparsers."""
    audit = hub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="audit_command", required=True
    )
    verify = audit.add_parser(
        "verify",
        help="check the audit log's hash chain; exit 1 naming the first edited or deleted row",
    )
    add_data_dir_argument(verify)
    verify.set_defaults(func=_cmd_audit_verify)


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from hub.audit_verify import verify_database
    from hub.settings import HubSettings, HubSettingsError

    env = dict(os.environ)
    if args.data_dir is not None:
        env["INNSIGHT_DATA_DIR"] = str(args.data_dir)
    try:
        settings = HubSettings.from_env(env)
        report = verify_database(settings.database_url.get_secret_value())
    except HubSettingsError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    except SQLAlchemyError as err:
        sys.stderr.write(f"error: cannot read the audit log: {type(err).__name__}: {err}\n")
        return EXIT_USAGE
    summary = (
        f"{report.rows} audit rows ({report.unchained} from before the chain), "
        f"head seq {report.head_seq} hash {report.head_hash}"
    )
    if report.problem is not None:
        sys.stderr.write(f"audit chain BROKEN: {report.problem}\n")
        sys.stdout.write(summary + "\n")
        return EXIT_TAMPERED
    sys.stdout.write(f"audit chain intact: {summary}\n")
    return EXIT_OK
