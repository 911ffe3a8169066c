"""Email over SMTP: one connection per worker, reused across messages, reopened after errors.

4xx replies and connection problems are transient; 5xx replies to a message are permanent.
Failing to connect, start TLS or log in is an outage of the server (``DeliveryError.outage``);
so is a connection lost mid-message when the server then cannot be reached again.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl

from notifications.channels import DeliveryError
from notifications.settings import SmtpSettings

logger = logging.getLogger(__name__)


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"SMTP {code} {text}".strip()


def _login(conn: smtplib.SMTP, user: str, password: str) -> None:
    """smtplib encodes credentials as ASCII; RFC 4616 AUTH PLAIN carries UTF-8, so a password
    with Chinese characters is sent that way when the server offers PLAIN."""
    if (user + password).isascii():
        conn.login(user, password)
        return
    conn.ehlo_or_helo_if_needed()
    if "plain" not in conn.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPAuthenticationError(504, b"non-ASCII credentials need AUTH PLAIN")
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    code, reply = conn.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


class SmtpChannel:
    def __init__(self, settings: SmtpSettings, password: str | None = None) -> None:
        self.settings = settings
        self._password = password
        self._conn: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host,
                    s.port,
                    timeout=s.timeout,
                    local_hostname=s.local_hostname,
                    context=self._tls(),
                )
            else:
                conn = smtplib.SMTP(
                    s.host, s.port, timeout=s.timeout, local_hostname=s.local_hostname
                )
                if s.security == "starttls":
                    conn.starttls(context=self._tls())
            if s.username:
                if self._password is None:
                    self._password = s.resolved_password()
                _login(conn, s.username, self._password)
        except (smtplib.SMTPException, OSError) as exc:
            # connection, TLS or login trouble is about the server, never the message
            raise DeliveryError(
                f"SMTP {s.host}:{s.port}: {exc!r}", permanent=False, outage=True
            ) from exc
        logger.debug("smtp connected to %s:%d", s.host, s.port)
        return conn

    def _tls(self) -> ssl.SSLContext:
        """Certificate and host name always checked; against the bureau's own CA if given."""
        return ssl.create_default_context(cafile=self.settings.ca_file or None)

    def send(self, sender: str, to: str, data: bytes) -> None:
        if self._conn is None:
            self._conn = self._open()
        try:
            self._conn.sendmail(sender, [to], data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, message = exc.recipients.get(to, (451, b"recipient refused"))
            raise DeliveryError(_reply(code, message), permanent=code >= 500) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:
                self.close()
            raise DeliveryError(
                _reply(exc.smtp_code, exc.smtp_error), permanent=500 <= exc.smtp_code < 600
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            # the server went away, or only this connection did: a new one tells which
            self._conn = self._open()  # raises the outage if the server is gone
            raise DeliveryError(f"SMTP: {exc!r}", permanent=False) from exc

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()
