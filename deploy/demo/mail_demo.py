"""The customers' side of the demo: a local SMTP server (aiosmtpd) standing in for the
shop's mail relay, and what the customers found in their mailboxes once the notification
service had told them about their orders."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Awaitable, Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class MailSink:
    """Keeps every message it accepts, in order."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def env(self) -> dict[str, str]:
        """The notification worker's settings to send here."""
        return {"OMS_SMTP_HOST": "127.0.0.1", "OMS_SMTP_PORT": str(self.port)}


def state_preferences(port: int, api_key: str, customer_id: str, body: dict[str, Any]) -> str:
    """What a shop's account page does: PUT the customer's message preferences."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/customers/{customer_id}/preferences",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        stated = json.load(response)
    return f"{response.status} locale={stated['locale']}"


async def print_mailbox(
    sink: MailSink,
    notify_db: Any,
    wait: Callable[[str, Callable[[], Awaitable[bool]]], Awaitable[Any]],
) -> None:
    """Once no message waits to be sent, every e-mail the SMTP server received."""

    async def all_sent() -> bool:
        waiting = await notify_db.fetchval(
            "SELECT count(*) FROM notifications WHERE status IN ('queued', 'sending')"
        )
        return bool(waiting == 0)

    await wait("the customer e-mails to go out", all_sent)
    outcomes = await notify_db.fetch(
        "SELECT status, count(*) AS n FROM notifications GROUP BY status ORDER BY status"
    )
    with sink._lock:
        received = list(sink.messages)
    ledger = ", ".join(f"{r['n']} {r['status']}" for r in outcomes)
    print(
        f"\n4. the customers' mailboxes: the SMTP server on 127.0.0.1:{sink.port} received"
        f" {len(received)} e-mails ({ledger} in the notification service's ledger)"
    )
    for message in received:
        body = message.get_body(preferencelist=("plain",))
        text = str(body.get_content()) if body is not None else ""  # type: ignore[attr-defined]
        lines = [line for line in text.splitlines() if line.strip()]
        print(f"\n  To: {message['To']}\n  Subject: {message['Subject']}")
        for line in lines[1:5]:
            print(f"    {line}")
