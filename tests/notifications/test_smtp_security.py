"""SMTP over STARTTLS and implicit TLS, with and without login, against real aiosmtpd servers
with certificates from a test CA (trustme): the certificate is checked, the login is checked,
and a wrong password or an unknown CA is a transient error naming the server."""

from __future__ import annotations

import email
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from notifications.channels import DeliveryError
from notifications.channels.smtp import SmtpChannel
from notifications.settings import SmtpSettings
from tests.notifications.servers import SinkHandler, free_port

USER, PASSWORD = "fj-notify", "s3cret-口令"


def _authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    return ctx


@pytest.fixture(params=["starttls", "ssl"])
def server(
    request: pytest.FixtureRequest, ca: trustme.CA
) -> Iterator[tuple[str, int, SinkHandler]]:
    handler = SinkHandler()
    port = free_port()
    ctx = _server_context(ca)
    if request.param == "starttls":
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
            authenticator=_authenticator, auth_require_tls=True,
        )  # fmt: skip
    else:
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, ssl_context=ctx,
            authenticator=_authenticator, auth_require_tls=False,
        )  # fmt: skip
    controller.start()
    try:
        yield request.param, port, handler
    finally:
        controller.stop()


def _message(subject: str) -> bytes:
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "notify@fj.example.cn", "a@fj.example.cn", subject
    msg["Message-ID"] = f"<{subject}@shuangsui>"
    msg.set_content("检查任务通知")
    return msg.as_bytes()


def _channel(security: str, port: int, ca_file: Path, password: str = PASSWORD) -> SmtpChannel:
    settings = SmtpSettings(
        host="127.0.0.1", port=port, security=security, username=USER,  # type: ignore[arg-type]
        password=SecretStr(password), ca_file=str(ca_file), timeout=10,
    )  # fmt: skip
    return SmtpChannel(settings)


def test_login_over_tls_delivers(server, ca_file: Path) -> None:  # type: ignore[no-untyped-def]
    security, port, handler = server
    channel = _channel(security, port, ca_file)
    channel.send("notify@fj.example.cn", "a@fj.example.cn", _message(f"{security}-1"))
    channel.send("notify@fj.example.cn", "a@fj.example.cn", _message(f"{security}-2"))
    channel.close()
    subjects = [r.message["Subject"] for r in handler.received]
    assert subjects == [f"{security}-1", f"{security}-2"]


def test_wrong_password_is_transient_and_names_the_server(server, ca_file: Path) -> None:  # type: ignore[no-untyped-def]
    security, port, handler = server
    channel = _channel(security, port, ca_file, password="wrong")
    with pytest.raises(DeliveryError) as err:
        channel.send("notify@fj.example.cn", "a@fj.example.cn", _message("x"))
    assert not err.value.permanent and f"127.0.0.1:{port}" in str(err.value)
    assert handler.received == []


def test_an_unknown_ca_is_refused(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    security, port, handler = server
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    channel = _channel(security, port, other)
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        channel.send("notify@fj.example.cn", "a@fj.example.cn", _message("x"))
    assert handler.received == []


@pytest.mark.usefixtures("prefect_harness")
def test_the_password_can_come_from_a_prefect_secret_block(server, ca_file: Path) -> None:  # type: ignore[no-untyped-def]
    """SHUANGSUI_SMTP_PASSWORD_BLOCK names a Secret block; nothing secret in the environment."""
    from prefect.blocks.system import Secret

    security, port, handler = server
    Secret(value=PASSWORD).save("shuangsui-smtp-test", overwrite=True)
    settings = SmtpSettings(
        host="127.0.0.1", port=port, security=security, username=USER,  # type: ignore[arg-type]
        password_block="shuangsui-smtp-test", ca_file=str(ca_file), timeout=10,
    )  # fmt: skip
    assert settings.password.get_secret_value() == ""
    channel = SmtpChannel(settings)
    channel.send("notify@fj.example.cn", "a@fj.example.cn", _message(f"{security}-block"))
    channel.close()
    assert [r.message["Subject"] for r in handler.received][-1] == f"{security}-block"
