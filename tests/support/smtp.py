"""A real SMTP server for tests (aiosmtpd, in a thread): it keeps every message it accepts,
and can run a fault (kill the sender) once it holds a message but before it answers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.processes import free_port


@dataclass
class SmtpSink:
    """What the server accepted, in order; ``on_message`` runs once it has a message, before
    it answers 250 (the sender cannot know yet that it was accepted)."""

    messages: list[EmailMessage] = field(default_factory=list)
    on_message: Callable[[EmailMessage], None] | None = None
    answers: dict[str, str] = field(default_factory=dict)
    """Recipient -> the server's answer to it instead of 250 (``550 ...``, ``451 ...``)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.answers:
            return self.answers[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        if self.on_message is not None:
            self.on_message(message)
        return "250 Message accepted for delivery"

    def received(self, to: str | None = None) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if to is None or m["To"] == to]

    def subjects(self, to: str | None = None) -> list[str]:
        return [str(m["Subject"]) for m in self.received(to)]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


@dataclass
class SmtpServer:
    sink: SmtpSink
    host: str
    port: int

    def env(self) -> dict[str, str]:
        """The notification service's settings to send here."""
        return {"OMS_SMTP_HOST": self.host, "OMS_SMTP_PORT": str(self.port)}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(sink, "127.0.0.1", port)
    finally:
        controller.stop()
