"""A real RTSP camera stand-in: gst-rtsp-server serving a live synthetic test pattern.

Run by the SYSTEM Python (``/usr/bin/python3``), where Debian's ``python3-gi`` lives; the venv
cannot import ``gi``. :mod:`testkit.rtsp_server` starts, kills and restarts it. Usage::

    /usr/bin/python3 rtsp_server_main.py --port 8554 [--path /cam] [--user u --password p]

It listens on 127.0.0.1 only and prints ``READY`` once the port is bound. Frames are MJPEG over
RTP (``jpegenc ! rtpjpegpay``): the encoder lives in gst-plugins-good, so no x264 (ugly) or
openh264 is needed, and every packet is a key frame, so a client that reconnects decodes its
first packet at once. With ``--user``/``--password`` the mount needs HTTP Basic auth (RTSPAuth),
which FFmpeg answers from the credentials in the URL.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ROLE = "camera-user"


def build_server(args: argparse.Namespace) -> GstRtspServer.RTSPServer:
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,format=I420,width={args.width},height={args.height},framerate={args.fps}/1 "
        "! jpegenc quality=60 ! rtpjpegpay name=pay0 pt=26 )"
    )
    factory.set_shared(True)  # one pipeline for every client, like a camera's encoder
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(
            ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True
        )
        permissions.add_permission_for_role(
            ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True
        )
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(args.path, factory)
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=10)
    args = parser.parse_args()

    Gst.init(None)
    server = build_server(args)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        sys.stderr.write(f"cannot listen on 127.0.0.1:{args.port}\n")
        return 3
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
