"""What goes on the wire, built from an outbox row: MIME bytes and signed webhook requests.

Pure functions; the channels only move these bytes.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MESSAGE_ID_DOMAIN = "shuangsui"


def message_id(key: str) -> str:
    return f"<{key}@{MESSAGE_ID_DOMAIN}>"


def _encoded_words(text: str) -> str:
    """RFC 2047 base64 encoded words of at most 75 characters, folded onto new lines."""
    if text.isascii() and len(text) < 900 and "\n" not in text and "\r" not in text:
        return text
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        if size + n > 45:  # 45 bytes -> 60 base64 characters + 12 of wrapping
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += n
    words.append("".join(chunk))
    encoded = (base64.b64encode(w.encode("utf-8")).decode() for w in words if w)
    return "\r\n ".join(f"=?utf-8?b?{e}?=" for e in encoded)


def build_email(
    *,
    key: str,
    sender: str,
    to: str,
    subject: str,
    body: str,
    created_at: datetime,
    kind: str,
    round_key: str,
) -> bytes:
    """The message as RFC 5322 bytes (UTF-8 text, base64). ``Message-ID`` is the idempotency
    key, so a repeat after a crash carries the same id and receivers can drop it.

    Written directly rather than through ``email.message`` (ten times slower): this runs once
    per message on the dispatcher's hot path.
    """
    if not (sender.isascii() and to.isascii()):
        return _build_email_slow(key, sender, to, subject, body, created_at, kind, round_key)
    headers = [f"From: {sender}"]
    if to:
        headers.append(f"To: {to}")
    headers += [
        f"Subject: {_encoded_words(subject)}",
        f"Date: {format_datetime(created_at)}",
        f"Message-ID: {message_id(key)}",
        f"X-Shuangsui-Kind: {kind}",
        f"X-Shuangsui-Round: {_encoded_words(round_key)}",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
    ]
    raw = base64.encodebytes(body.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"))
    return ("\r\n".join(headers) + "\r\n\r\n").encode("ascii") + raw.replace(b"\n", b"\r\n")


def _build_email_slow(key, sender, to, subject, body, created_at, kind, round_key) -> bytes:  # type: ignore[no-untyped-def]
    """Non-ASCII addresses (SMTPUTF8): let the standard library do the encoding."""
    msg = EmailMessage(policy=email.policy.SMTPUTF8.clone(max_line_length=100))
    msg["From"] = sender
    if to:
        msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(created_at)
    msg["Message-ID"] = message_id(key)
    msg["X-Shuangsui-Kind"] = kind
    msg["X-Shuangsui-Round"] = round_key
    msg.set_content(body, charset="utf-8")
    return msg.as_bytes()


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    headers: dict[str, str]
    body: bytes


# One encoder for every body (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _json(obj: Any) -> bytes:
    return _ENCODER.encode(obj).encode()


def sign_generic(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 over ``timestamp + "." + body``."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify_generic(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign_generic(secret, timestamp, body), signature)


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """DingTalk signed robots: base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def _split_secret(url: str) -> tuple[str, str]:
    """A robot's own secret may ride in the URL fragment (``...#secret=SEC...``)."""
    if "#" not in url:
        return url, ""
    parts = urlsplit(url)
    secret = dict(parse_qsl(parts.fragment)).get("secret", "")
    return urlunsplit(parts._replace(fragment="")), secret


def build_webhook(
    *,
    channel: str,
    url: str,
    key: str,
    subject: str,
    body: str,
    payload: dict[str, Any],
    now: datetime,
    secret: bytes,
    dingtalk_secret: str = "",
) -> WebhookRequest:
    url, url_secret = _split_secret(url)
    headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key}
    if channel == "dingtalk":
        data = _json(
            {
                "msgtype": "markdown",
                "markdown": {"title": subject, "text": f"### {subject}\n\n{body}"},
            }
        )
        robot_secret = url_secret or dingtalk_secret
        if robot_secret:
            ts = str(int(now.timestamp() * 1000))
            parts = urlsplit(url)
            query = parse_qsl(parts.query) + [
                ("timestamp", ts),
                ("sign", dingtalk_sign(robot_secret, ts)),
            ]
            url = urlunsplit(parts._replace(query=urlencode(query)))
        return WebhookRequest(url=url, headers=headers, body=data)
    if channel == "wecom":
        data = _json({"msgtype": "markdown", "markdown": {"content": f"### {subject}\n{body}"}})
        return WebhookRequest(url=url, headers=headers, body=data)
    data = _json({"id": key, "subject": subject, "text": body, "payload": payload})
    ts = str(int(now.timestamp()))
    headers["X-Shuangsui-Timestamp"] = ts
    headers["X-Shuangsui-Signature"] = sign_generic(secret, ts, data)
    return WebhookRequest(url=url, headers=headers, body=data)
