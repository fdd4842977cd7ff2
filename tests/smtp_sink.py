"""A real SMTP server for tests and the outbox benchmark: aiosmtpd on 127.0.0.1, in a
thread. It keeps every message it accepts, or refuses them all with a temporary error."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    recipients: list[str]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def text(self) -> str:
        return f"{self.message['Subject']}\n{self.message.get_content()}"


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    # While set, every message is refused with this reply (e.g. "451 4.3.0 try later").
    refuse_with: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse_with is not None:
            return self.refuse_with
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.received.append(Received(list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.recipients]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Sink:
    port: int
    handler: SinkHandler

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return list(self.handler.received)


@contextmanager
def smtp_sink() -> Iterator[Sink]:
    handler = SinkHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Sink(port, handler)
    finally:
        controller.stop()


class _IdWriter:
    """For a server in its own process: writes each accepted message's Message-ID."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a", encoding="ascii")  # noqa: SIM115 - open for the server's life

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.file.write(f"{parsed['Message-ID']}\n")
        self.file.flush()
        return "250 OK"


@contextmanager
def smtp_sink_process(ids_path: Path) -> Iterator[str]:
    """An SMTP server in a process of its own (so it does not share the sender's
    interpreter), writing each Message-ID it accepts to `ids_path`; yields its URL."""
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "tests.smtp_sink", str(port), str(ids_path)],
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the SMTP server did not start") from None
                time.sleep(0.1)
        yield f"smtp://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    controller = Controller(_IdWriter(sys.argv[2]), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()
