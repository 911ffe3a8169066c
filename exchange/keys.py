"""The bureau's Ed25519 key pair under ``$SHUANGSUI_HOME/keys`` (made on first use)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from exchange.notes import VerifierKey, verifier_key
from exchange.settings import exchange_settings, origin_of
from shuangsui.config import get_settings
from shuangsui.files import remove_leftovers, write_atomic, writer_lock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BureauKey:
    origin: str
    private: Ed25519PrivateKey
    public: VerifierKey


def _paths(keys_dir: Path, origin: str) -> tuple[Path, Path]:
    return keys_dir / f"{origin}.ed25519.pem", keys_dir / f"{origin}.vkey"


def load_or_create(keys_dir: Path | None = None, bureau_code: str | None = None) -> BureauKey:
    """The key pair of this bureau; generated (private key mode 0600) if absent."""
    keys_dir = keys_dir or exchange_settings().keys_path
    origin = origin_of(bureau_code or get_settings().bureau_code)
    priv_path, pub_path = _paths(keys_dir, origin)
    if priv_path.exists():
        key = load_pem_private_key(priv_path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{priv_path}: not an Ed25519 private key")
    else:
        with writer_lock(keys_dir):  # another process making the key meanwhile: one at a time
            remove_leftovers(keys_dir)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            try:
                write_atomic(priv_path, pem, 0o600, exclusive=True)
                made = True
            except FileExistsError:  # another process made it first: use that one
                made = False
        if not made:
            return load_or_create(keys_dir, bureau_code)
        logger.info("generated the Ed25519 key of %s in %s", origin, keys_dir)
    vkey = verifier_key(origin, key)
    if not pub_path.exists() or pub_path.read_text().strip() != vkey.text:
        write_atomic(pub_path, (vkey.text + "\n").encode())
    return BureauKey(origin, key, vkey)
