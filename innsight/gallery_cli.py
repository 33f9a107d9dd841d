"""``innsight hub gallery rekey | models | backfill MODEL``.

``models`` lists the fleet's face models with their templates, newest gallery and back-fill
progress; ``backfill MODEL`` makes a model's missing templates from the kept crops now
(hub/flows/gallery_backfill.py; docs/galleries.md).

``rekey``: re-key the site's face templates (issue 17 item 4).

Makes a new template key, re-derives every template from its kept crop with the hub's face model,
deletes the templates without a usable crop, drops the old key and publishes a new gallery
version (:mod:`hub.face_rekey`). Run it with the hub stopped, or restart the hub after it: a
running hub picks the new key up from ``template.key`` at its next recognition, and announces
the new gallery to each edge when the edge next comes online (at the latest when the hub
restarts). Exit codes: 0 done; 2 bad settings or a key that cannot be rotated here.

The parser is standard library only; the handler imports the hub and the face model when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from innsight.hub_cli_args import add_data_dir_argument

EXIT_OK = 0
EXIT_USAGE = 2


def add_gallery_parser(hub: Any) -> None:
    """Add ``gallery rekey`` to the ``innsight hub`` subparsers."""
    gallery = hub.add_parser("gallery", help="the face gallery").add_subparsers(
        dest="gallery_command", required=True
    )
    rekey = gallery.add_parser(
        "rekey",
        help="new template key; re-derive every face template from its crop; new gallery version",
    )
    add_data_dir_argument(rekey)
    rekey.set_defaults(func=_cmd_rekey)
    models = gallery.add_parser(
        "models", help="the fleet's face models: templates, gallery version, back-fill progress"
    )
    add_data_dir_argument(models)
    models.set_defaults(func=_cmd_models)
    backfill = gallery.add_parser(
        "backfill", help="make a face model's missing templates from the kept enrolment crops"
    )
    backfill.add_argument("model_id", help="e.g. lbph-u2-4x4, sface-2021dec")
    add_data_dir_argument(backfill)
    backfill.set_defaults(func=_cmd_backfill)


def _cmd_models(args: argparse.Namespace) -> int:
    import asyncio

    from hub.gallery_models import FleetModel
    from hub.settings import HubSettingsError

    if args.data_dir is not None:
        os.environ["INNSIGHT_DATA_DIR"] = str(args.data_dir)

    async def run() -> list[FleetModel]:
        from hub.flows.context import current

        deps = await current()
        return [] if deps.gallery is None else await deps.gallery.model_states()

    try:
        states = asyncio.run(run())
    except HubSettingsError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    sys.stdout.write("model\torigin\ttemplates\tgallery\tbackfill\tdone/total\tfailed\n")
    for m in states:
        sys.stdout.write(
            f"{m.model_id}\t{m.origin}\t{m.templates}\t{m.gallery_version or '-'}\t"
            f"{m.backfill_status}\t{m.backfill_done}/{m.backfill_total}\t{m.backfill_failed}"
            + (f"\t{m.backfill_error}" if m.backfill_error else "")
            + "\n"
        )
    return EXIT_OK


def _cmd_backfill(args: argparse.Namespace) -> int:
    import asyncio

    from hub.flows.gallery_backfill import BackfillReport, backfill_model
    from hub.settings import HubSettingsError

    if args.data_dir is not None:
        os.environ["INNSIGHT_DATA_DIR"] = str(args.data_dir)

    async def run() -> BackfillReport | None:
        from hub.flows.context import current

        deps = await current()
        if deps.gallery is None:
            return None
        return await backfill_model(deps.gallery, args.model_id)

    try:
        report = asyncio.run(run())
    except HubSettingsError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    if report is None or report.status == "failed":
        reason = "no gallery service" if report is None else report.error
        sys.stderr.write(f"error: back-fill of {args.model_id} failed: {reason}\n")
        return EXIT_USAGE
    sys.stdout.write(
        f"{report.model_id}: {report.done} of {report.total} crops embedded, {report.failed} "
        f"failed, gallery version {report.gallery_version or '-'}\n"
    )
    return EXIT_OK


def _cmd_rekey(args: argparse.Namespace) -> int:
    import asyncio

    from hub.face_rekey import RekeyReport, rekey_templates
    from hub.face_templates import TemplateKeyError
    from hub.settings import HubSettingsError

    if args.data_dir is not None:
        os.environ["INNSIGHT_DATA_DIR"] = str(args.data_dir)

    async def run() -> RekeyReport:
        from hub.flows.context import current
        from models.face_dlib import DlibFaceAnalyzer

        deps = await current()
        if deps.gallery is None:
            raise TemplateKeyError("no gallery service in this process")
        analyzer = DlibFaceAnalyzer(upsample=deps.settings.face_upsample)
        return await rekey_templates(deps.gallery, analyzer, deps.session_factory, deps.store)

    try:
        report = asyncio.run(run())
    except (HubSettingsError, TemplateKeyError) as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    sys.stdout.write(
        f"templates re-keyed: key {report.old_key_id} -> {report.new_key_id}, "
        f"{report.rederived} re-derived from their crops, {report.dropped} without a usable "
        f"crop deleted, gallery version {report.gallery_version}\n"
    )
    return EXIT_OK
