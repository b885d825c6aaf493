"""E-mail over SMTP (aiosmtplib): one connection per dispatch pass, each message multipart
(plain text and HTML) with its deterministic Message-ID."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

import aiosmtplib

from oms_notification.domain.delivery import Delivery, DeliveryStatus, Email
from oms_runtime import retried

__all__ = ["SmtpSender", "TlsMode"]

TlsMode = Literal["none", "starttls", "tls"]


def _not_reached(exc: Exception) -> bool:
    """Connecting failed without a word from the server: worth a few quick tries."""
    return isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPConnectTimeoutError)


class SmtpSender:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        tls: TlsMode = "none",
        timeout_s: float = 30.0,
        connect_attempts: int = 3,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._tls = tls
        self._timeout_s = timeout_s
        self._connect_attempts = connect_attempts

    def _message(self, email: Email) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Message-ID"] = email.message_id
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        return message

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            use_tls=self._tls == "tls",
            start_tls=True if self._tls == "starttls" else False if self._tls == "none" else None,
            timeout=self._timeout_s,
        )
        await client.connect()
        return client

    async def send(self, emails: Sequence[Email]) -> list[Delivery]:
        """Each message's delivery, in order. Nothing raises: a message the server refused
        for good is ``refused``, one it never got ``failed`` (safe to try again), one whose
        connection broke after it was handed over ``unknown``."""
        try:
            client = await retried(
                "smtp_unavailable",
                _not_reached,
                self._connect,
                first_s=0.2,
                max_s=2.0,
                attempts=self._connect_attempts,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            return [
                Delivery(DeliveryStatus.FAILED, reason=f"smtp_connect: {type(exc).__name__}")
            ] * len(emails)
        results: list[Delivery] = []
        try:
            for email in emails:
                try:
                    await client.send_message(self._message(email))
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    codes = [r.code for r in exc.recipients]
                    permanent = all(code >= 500 for code in codes)
                    results.append(
                        Delivery(
                            DeliveryStatus.REFUSED if permanent else DeliveryStatus.FAILED,
                            reason=f"smtp_{codes[0] if codes else 0}: recipient refused",
                        )
                    )
                except aiosmtplib.SMTPResponseException as exc:
                    permanent = exc.code >= 500
                    results.append(
                        Delivery(
                            DeliveryStatus.REFUSED if permanent else DeliveryStatus.FAILED,
                            reason=f"smtp_{exc.code}",
                        )
                    )
                except (aiosmtplib.SMTPException, OSError) as exc:
                    # The connection broke mid-conversation: the server may have the message.
                    results.append(
                        Delivery(DeliveryStatus.UNKNOWN, reason=f"smtp: {type(exc).__name__}")
                    )
                    break
                else:
                    results.append(
                        Delivery(
                            DeliveryStatus.SENT, provider_message_id=email.message_id.strip("<>")
                        )
                    )
        finally:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
        # Messages after a broken connection were never handed over.
        return results + [
            Delivery(DeliveryStatus.FAILED, reason="smtp: connection lost before this message")
        ] * (len(emails) - len(results))
