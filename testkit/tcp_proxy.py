"""A loopback TCP proxy whose link can be cut and restored (the edge ⇄ broker link in fault tests).

    with TcpProxy("127.0.0.1", broker.port) as proxy:   # the edge connects to proxy.port
        proxy.cut()        # every connection closed, new ones refused (the port stops listening)
        proxy.restore()    # listening again on the same port; connections forward once more

Threads: one accepts; each accepted connection gets two pumps (client → upstream and back), each
a blocking ``recv``/``sendall`` loop, so a slow reader in one direction never stalls the other.
A cut shuts both sockets of every pair down (the pumps see EOF/an error and end) and closes the
listening socket, so a reconnect attempt meets ECONNREFUSED, as with a pulled cable or a downed
uplink in front of a broker that stays up. Every wait here is bounded.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType

logger = logging.getLogger(__name__)

_ACCEPT_POLL_S = 0.05
_CONNECT_TIMEOUT_S = 2.0
_JOIN_TIMEOUT_S = 2.0
_CHUNK = 64 * 1024


@dataclass(slots=True)
class ProxyStats:
    accepted: int = 0  # connections forwarded to the upstream
    refused_upstream: int = 0  # accepted, but the upstream would not take them
    cuts: int = 0
    bytes_up: int = 0  # client -> upstream
    bytes_down: int = 0  # upstream -> client


@dataclass(eq=False, slots=True)
class _Pair:
    client: socket.socket
    upstream: socket.socket
    threads: list[threading.Thread] = field(default_factory=list)
    pumps_left: int = 2
    closed: bool = False

    def shutdown(self) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed = True
        for sock in (self.client, self.upstream):
            sock.close()


class TcpProxy:
    """Forward ``listen_host:port`` to ``target_host:target_port`` until cut."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        self.target = (target_host, target_port)
        self.host = listen_host
        self.port = listen_port
        self.stats = ProxyStats()
        self._lock = threading.Lock()
        self._pairs: set[_Pair] = set()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._accepting = threading.Event()
        self._closed = False

    # -- control (any thread) ----------------------------------------------------------------

    @property
    def is_cut(self) -> bool:
        return not self._accepting.is_set()

    def start(self) -> TcpProxy:
        """Listen (on a free port the first time, then always the same one) and forward."""
        with self._lock:
            if self._closed:
                raise RuntimeError("proxy is closed")
            if self._listener is not None:
                return self
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind((self.host, self.port))
                listener.listen(16)
                listener.settimeout(_ACCEPT_POLL_S)
            except OSError:
                listener.close()
                raise
            self.port = listener.getsockname()[1]
            self._listener = listener
            self._accepting.set()
            self._accept_thread = threading.Thread(
                target=self._accept_loop, args=(listener,), name="proxy-accept", daemon=True
            )
            self._accept_thread.start()
        logger.info("proxy %s:%d -> %s:%d", self.host, self.port, *self.target)
        return self

    def cut(self) -> None:
        """Close every connection and stop listening (new connections are refused)."""
        self._cut(count=True)

    def _cut(self, *, count: bool) -> None:
        with self._lock:
            self._accepting.clear()
            listener, self._listener = self._listener, None
            accept_thread, self._accept_thread = self._accept_thread, None
            pairs = list(self._pairs)
            self.stats.cuts += count
        if listener is not None:
            listener.close()
        if accept_thread is not None:
            accept_thread.join(_JOIN_TIMEOUT_S)
        for pair in pairs:
            pair.shutdown()
        for pair in pairs:
            for thread in pair.threads:
                thread.join(_JOIN_TIMEOUT_S)
        with self._lock:
            for pair in pairs:  # a pump that did not end in time: close its sockets anyway
                if not pair.closed:
                    self._pairs.discard(pair)
                    pair.close()
        logger.info("proxy on %d cut (%d connections closed)", self.port, len(pairs))

    def restore(self) -> None:
        """Listen again on the same port."""
        self.start()

    def close(self) -> None:
        self._cut(count=False)
        with self._lock:
            self._closed = True

    def connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- threads -----------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._accepting.is_set():
            try:
                client, _address = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # the listener was closed by cut()
                break
            self._open_pair(client)

    def _open_pair(self, client: socket.socket) -> None:
        client.settimeout(None)
        try:
            upstream = socket.create_connection(self.target, timeout=_CONNECT_TIMEOUT_S)
        except OSError as err:
            logger.info("proxy: upstream %s:%d refused (%s)", *self.target, err)
            with self._lock:
                self.stats.refused_upstream += 1
            client.close()
            return
        upstream.settimeout(None)
        pair = _Pair(client, upstream)
        with self._lock:
            if not self._accepting.is_set():  # cut while connecting
                pair.close()
                return
            self._pairs.add(pair)
            self.stats.accepted += 1
            pair.threads = [
                threading.Thread(
                    target=self._pump, args=(pair, client, upstream, True), daemon=True
                ),
                threading.Thread(
                    target=self._pump, args=(pair, upstream, client, False), daemon=True
                ),
            ]
            for thread in pair.threads:
                thread.start()

    def _pump(self, pair: _Pair, source: socket.socket, sink: socket.socket, up: bool) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                sink.sendall(data)
                with self._lock:
                    if up:
                        self.stats.bytes_up += len(data)
                    else:
                        self.stats.bytes_down += len(data)
        except OSError:
            pass
        # Either side gone: take the whole pair down (as a broken link does), then release it
        # once both pumps are done with it.
        pair.shutdown()
        with self._lock:
            pair.pumps_left -= 1
            if pair.pumps_left == 0:
                self._pairs.discard(pair)
                pair.close()
