"""``innsight hub gallery rekey``: re-key the site's face templates (issue 17 item 4).

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
