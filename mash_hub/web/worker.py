"""The hub's gunicorn worker: threads that only ever handle a request already received.

gunicorn's synchronous worker reads each request itself, so a client that sends slowly
(a byte every few seconds, or a body that never finishes) holds the whole worker. Forty
such connections cut the served throughput by about 99% (fault review, finding 8), and a
held request could also hold a database session open while its body trickled in.

Here the worker's main loop receives every request, head and body, without blocking,
from as many connections as `worker_connections` allows, and gives a request to a thread
only once all of it has arrived. A client that has not sent a whole request within
`read_timeout` seconds is answered 408 and its connection closed. Threads therefore wait
only on the application, never on a client.

What gunicorn answers itself (a request it cannot read, one that took too long to arrive)
is answered in the hub's shapes: the API's JSON error for the API and the token endpoint,
a plain-English page otherwise; never gunicorn's HTML (finding 9).
"""

from __future__ import annotations

import contextlib
import errno
import json
import selectors
import threading
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn import http, util
from gunicorn.workers.gthread import ThreadWorker

from mash_hub.http.errors import STATUS_CODES

API_PREFIXES = ("/api/", "/oauth/")
SERVER_MESSAGES = {
    408: "the request did not arrive in time",
    500: "the hub could not complete the request",
    503: "the hub is not able to answer just now",
}
PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title} - MASH Hub</title></head>
<body>
<main>
<h1>{title}</h1>
<p>{advice}</p>
</main>
</body>
</html>
"""
RECEIVE_CHUNK = 65536
# The most a request's head may take: gunicorn's own limits refuse it in the thread.
MAX_HEAD_BYTES = 64 * 1024

_answering = threading.local()


def answer(status: int, reason: str, path: str) -> bytes:
    """The whole HTTP answer the server writes for `status` on `path`, in the hub's shape."""
    if path.startswith(API_PREFIXES):
        message = SERVER_MESSAGES.get(status, "the request could not be read")
        body = json.dumps({"error": STATUS_CODES.get(status, "error"), "message": message})
        content_type = "application/json"
    elif status >= 500:
        body = PAGE.format(
            title="Sorry, there is a problem with the service",
            advice="Nothing you entered has been saved. Try again in a few minutes.",
        )
        content_type = "text/html; charset=utf-8"
    elif status == 408:
        body = PAGE.format(
            title="The request took too long to arrive",
            advice="Nothing you entered has been saved. Check your connection and try again.",
        )
        content_type = "text/html; charset=utf-8"
    else:
        body = PAGE.format(
            title="The hub could not read that request",
            advice="Go back and try again.",
        )
        content_type = "text/html; charset=utf-8"
    data = body.encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(data)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "X-Frame-Options: DENY\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + data


def write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Stands in for gunicorn's `util.write_error` (its HTML page)."""
    util.write_nonblock(sock, answer(status_int, reason, getattr(_answering, "path", "")))


def request_complete(data: bytes, max_body: int) -> bool:
    """Whether `data` holds a whole HTTP/1.x request, or enough for the server to refuse
    it without reading more (a head too long, a body larger than the hub accepts, a head
    it cannot read: the thread's parser answers those at once)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) > MAX_HEAD_BYTES
    head, body = data[:end], data[end + 4 :]
    length: int | None = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return True  # unreadable: refused without reading the body
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    if chunked:
        # The last chunk and an empty trailer end the body; more than the hub accepts
        # needs no more reading either.
        return body.endswith(b"0\r\n\r\n") or len(body) > max_body
    if length is None:
        return True
    return length < 0 or length > max_body or len(body) >= length


class Arriving:
    """A connection whose next request is still arriving: what came so far, and when it
    must all have come."""

    def __init__(self, conn: Any, received: bytes, deadline: float) -> None:
        self.conn = conn
        self.received = bytearray(received)
        self.deadline = deadline


class HubWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker, with requests received whole before a thread takes
    them, and the hub's own error answers."""

    # Set by the server in gunicorn's master, before any worker is forked.
    read_timeout = 10.0
    max_body = 1 << 20

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arriving: deque[Arriving] = deque()  # in deadline order

    # Every way a connection reaches the thread pool comes through here: a new connection,
    # a kept-alive one with a next request, one with a pipelined request already read.
    def enqueue_req(self, conn: Any) -> None:
        if self.cfg.is_ssl:  # TLS ends at the proxy in front; read here, bytes are ciphertext
            super().enqueue_req(conn)
            return
        if getattr(conn, "received_whole", False):
            conn.received_whole = False
            super().enqueue_req(conn)
            return
        held = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        self._receive(Arriving(conn, held, time.monotonic() + self.read_timeout))

    def _receive(self, arriving: Arriving) -> None:
        if request_complete(bytes(arriving.received), self.max_body):
            self._hand_over(arriving)
            return
        arriving.conn.sock.setblocking(False)
        self.arriving.append(arriving)
        self.poller.register(
            arriving.conn.sock, selectors.EVENT_READ, partial(self._readable, arriving)
        )

    def _readable(self, arriving: Arriving, _sock: Any) -> None:
        try:
            data = arriving.conn.sock.recv(RECEIVE_CHUNK)
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return
            data = b""
        if not data:  # the client went away
            self._forget(arriving)
            self._close(arriving.conn)
            return
        arriving.received += data
        if request_complete(bytes(arriving.received), self.max_body):
            self._forget(arriving)
            self._hand_over(arriving)

    def _hand_over(self, arriving: Arriving) -> None:
        conn = arriving.conn
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        if arriving.received:
            conn.parser.unreader.unread(bytes(arriving.received))
        conn.data_ready = True  # no waiting in the thread: the request is here
        conn.received_whole = True
        self.enqueue_req(conn)

    def _forget(self, arriving: Arriving) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(arriving.conn.sock)
        with contextlib.suppress(ValueError):
            self.arriving.remove(arriving)

    def _close(self, conn: Any) -> None:
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Runs on every turn of the main loop: ends requests that did not arrive in time."""
        super().murder_pending()
        now = time.monotonic()
        while self.arriving and self.arriving[0].deadline <= now:
            late = self.arriving[0]
            self._forget(late)
            if late.received:  # a request was started: say why it ends
                path = _request_path(bytes(late.received))
                with contextlib.suppress(OSError):
                    late.conn.sock.send(answer(408, "Request Timeout", path))
            self._close(late.conn)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # A request refused while its headers were read has no `req` yet; the error may
        # carry the part that was read, path included.
        read = req if req is not None else getattr(exc, "req", None)
        _answering.path = str(getattr(read, "path", "") or "")
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            _answering.path = ""


def _request_path(received: bytes) -> str:
    line = received.split(b"\r\n", 1)[0].split(b" ")
    return line[1].decode("latin-1") if len(line) > 1 else ""
