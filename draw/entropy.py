"""Entropy sources. Each produces a recorded raw dict that goes, in order, into the seed.

Record formats (all values str or int):

* ``{"source": "witness-digits", "digits": "<>=20 decimal digits>", "witnesses": [names]}``
* ``{"source": "beacon", "url": base, "chain_hash": hex, "round": int, "randomness": hex,
  "signature": hex}`` (drand; ``randomness == sha256(signature)``)
* ``{"source": "commit-reveal", "commitment": hex, "secret": str, "committed_in": str}``
  (``commitment == sha256(utf-8 secret)``, published before the frames were committed)
* ``{"source": "partner-checkpoints", "after": "YYYY-MM-DDTHH:MM:SSZ", "checkpoints":
  [{"partner", "key_id", "vkey", "checkpoint"}]}``: partner bureaus' C2SP checkpoints, each
  Ed25519-signed by ``vkey`` (signed-note verifier key) and timed after ``after`` (the commitment)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from .errors import EntropyInvalid, EntropyUnavailable

__all__ = [
    "CommitReveal",
    "DrandBeacon",
    "WitnessDigits",
    "check_record",
    "check_records",
    "digits_wrong",
]

log = logging.getLogger(__name__)
_HEX = re.compile(r"^[0-9a-f]+$")
MIN_DIGITS = 20
_DIGITS = re.compile(r"[0-9]+")  # not str.isdigit, to which "²" and "９" are digits


def digits_wrong(
    digits: str, least: int = MIN_DIGITS, most: int | None = None
) -> Literal["not digits", "too few", "too many"] | None:
    """What is wrong with a ceremony's witness digits, or None: not decimal digits 0-9 (empty,
    a space, "²" or "９"), fewer than ``least``, more than ``most`` (None: no bound). The one
    rule of the record's check, ``round draw --digits`` and the API's ceremony; each says the
    problem in its own words (the count is ``len(digits)``)."""
    if not _DIGITS.fullmatch(digits):
        return "not digits"
    if len(digits) < least:
        return "too few"
    if most is not None and len(digits) > most:
        return "too many"
    return None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WitnessDigits:
    """Digits produced in public (e.g. 20 ten-sided dice), named witnesses."""

    digits: str
    witnesses: Sequence[str]

    def record(self) -> dict[str, Any]:
        rec = {"source": "witness-digits", "digits": self.digits, "witnesses": list(self.witnesses)}
        check_record(rec)
        return rec


@dataclass(frozen=True)
class CommitReveal:
    """A secret whose SHA-256 was published earlier (``committed_in`` says where)."""

    secret: str
    committed_in: str

    @property
    def commitment(self) -> str:
        return hashlib.sha256(self.secret.encode("utf-8")).hexdigest()

    def record(self, commitment: str | None = None) -> dict[str, Any]:
        """The reveal; ``commitment`` is the value published earlier (checked against)."""
        rec = {
            "source": "commit-reveal",
            "commitment": commitment or self.commitment,
            "secret": self.secret,
            "committed_in": self.committed_in,
        }
        check_record(rec)
        return rec


@dataclass
class DrandBeacon:
    """drand HTTP client: ``GET {base}/{chain_hash}/info`` and ``/public/{round}``.

    Checks ``randomness == sha256(signature)`` and the round number; BLS signature
    verification needs a pairing library and is left to outside verifiers.
    """

    base_url: str
    chain_hash: str
    transport: httpx.BaseTransport | None = None
    timeout: float = 10.0
    now: Callable[[], dt.datetime] = _utcnow
    _info: dict[str, Any] | None = field(default=None, repr=False)

    def _get(self, path: str) -> httpx.Response:
        url = f"{self.base_url.rstrip('/')}/{self.chain_hash}/{path}"
        with httpx.Client(transport=self.transport, timeout=self.timeout) as client:
            return client.get(url)

    def info(self) -> dict[str, Any]:
        if self._info is None:
            try:
                resp = self._get("info")
                resp.raise_for_status()
                info = resp.json()
            except httpx.HTTPError as exc:
                raise EntropyUnavailable(f"beacon {self.base_url} unreachable: {exc}") from exc
            if not isinstance(info.get("genesis_time"), int) or not isinstance(
                info.get("period"), int
            ):
                raise EntropyInvalid(f"beacon {self.base_url}: info lacks genesis_time/period")
            self._info = info
        return self._info

    def round_time(self, round_no: int) -> dt.datetime:
        """genesis + (round - 1) * period, UTC."""
        info = self.info()
        ts = info["genesis_time"] + (round_no - 1) * info["period"]
        return dt.datetime.fromtimestamp(ts, dt.UTC)

    def round_after(self, when: dt.datetime) -> int:
        """The first round emitted strictly after ``when``: name it before committing."""
        info = self.info()
        elapsed = int(when.timestamp()) - info["genesis_time"]
        return max(1, elapsed // info["period"] + 2)

    def round_from(self, when: dt.datetime) -> int:
        """The first round emitted at or after ``when`` (to the microsecond): a commitment's
        beacon round named a lead after it, so the commitment is public before the value."""
        info = self.info()
        genesis = dt.datetime.fromtimestamp(info["genesis_time"], dt.UTC)
        elapsed = (when - genesis) // dt.timedelta(microseconds=1)
        return max(1, -(-elapsed // (info["period"] * 1_000_000)) + 1)

    def fetch(self, round_no: int) -> dict[str, Any]:
        """The recorded entropy for a round named in advance, or EntropyUnavailable."""
        expected = self.round_time(round_no)
        waiting = f"waiting for beacon round {round_no}, expected at {expected.isoformat()}"
        if self.now() < expected:
            raise EntropyUnavailable(waiting)
        try:
            resp = self._get(f"public/{round_no}")
        except httpx.HTTPError as exc:
            raise EntropyUnavailable(f"{waiting}; server unreachable: {exc}") from exc
        if resp.status_code in (404, 425) or resp.status_code >= 500:
            raise EntropyUnavailable(f"{waiting}; server answered HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise EntropyInvalid(f"beacon round {round_no}: HTTP {resp.status_code}")
        body = resp.json()
        rec = {
            "source": "beacon",
            "url": self.base_url,
            "chain_hash": self.chain_hash,
            "round": body.get("round"),
            "randomness": body.get("randomness"),
            "signature": body.get("signature"),
        }
        if rec["round"] != round_no:
            raise EntropyInvalid(
                f"beacon answered round {rec['round']!r}, the round named in advance is {round_no}"
            )
        check_record(rec)
        log.info("beacon round %s fetched from %s", round_no, self.base_url)
        return rec


def _hex(rec: dict[str, Any], key: str) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not _HEX.match(value) or len(value) % 2:
        raise EntropyInvalid(f"{rec.get('source')}: {key} must be lowercase hex")
    return value


def check_record(rec: dict[str, Any]) -> None:
    """A record's own check; raises EntropyInvalid naming the failure."""
    source = rec.get("source")
    if source == "witness-digits":
        given = rec.get("digits")
        digits = given if isinstance(given, str) else ""  # not a string: not digits either
        wrong = digits_wrong(digits)
        if wrong == "not digits":
            raise EntropyInvalid("witness-digits: digits must be decimal digits")
        if wrong == "too few":
            raise EntropyInvalid(f"witness-digits: {len(digits)} digits < {MIN_DIGITS}")
        w = rec.get("witnesses")
        if not isinstance(w, list) or not w or not all(isinstance(x, str) and x for x in w):
            raise EntropyInvalid("witness-digits: witnesses must be a non-empty list of names")
        keys = {"source", "digits", "witnesses"}
    elif source == "beacon":
        if not isinstance(rec.get("round"), int) or isinstance(rec.get("round"), bool):
            raise EntropyInvalid("beacon: round must be an integer")
        for key in ("url", "chain_hash"):
            if not isinstance(rec.get(key), str):
                raise EntropyInvalid(f"beacon: {key} must be a string")
        sig, rnd = _hex(rec, "signature"), _hex(rec, "randomness")
        if hashlib.sha256(bytes.fromhex(sig)).hexdigest() != rnd:
            raise EntropyInvalid(f"beacon round {rec['round']}: randomness != sha256(signature)")
        keys = {"source", "url", "chain_hash", "round", "randomness", "signature"}
    elif source == "commit-reveal":
        commitment = _hex(rec, "commitment")
        secret = rec.get("secret")
        if not isinstance(secret, str) or not isinstance(rec.get("committed_in"), str):
            raise EntropyInvalid("commit-reveal: secret and committed_in must be strings")
        if hashlib.sha256(secret.encode("utf-8")).hexdigest() != commitment:
            raise EntropyInvalid("commit-reveal: sha256(secret) does not match the commitment")
        keys = {"source", "commitment", "secret", "committed_in"}
    elif source == "partner-checkpoints":
        _check_partner_checkpoints(rec)
        keys = {"source", "after", "checkpoints"}
    else:
        raise EntropyInvalid(f"unknown entropy source {source!r}")
    if set(rec) != keys:
        raise EntropyInvalid(f"{source}: fields must be exactly {sorted(keys)}")


def _check_partner_checkpoints(rec: dict[str, Any]) -> None:
    """Each checkpoint verifies under its signed-note key and was issued after ``after``."""
    import base64

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    after, cps = rec.get("after"), rec.get("checkpoints")
    if not isinstance(after, str) or not isinstance(cps, list) or not cps:
        raise EntropyInvalid("partner-checkpoints: needs 'after' and a non-empty 'checkpoints'")
    for cp in cps:
        if not isinstance(cp, dict) or set(cp) != {"partner", "key_id", "vkey", "checkpoint"}:
            raise EntropyInvalid("partner-checkpoints: fields: partner, key_id, vkey, checkpoint")
        try:
            name, kid, b64 = cp["vkey"].split("+", 2)
            pub = base64.b64decode(b64, validate=True)
            text, sigs = cp["checkpoint"].split("\n\n", 1)
            sig_name, sig_b64 = sigs.strip().split(" ")[1:3]
            sig = base64.b64decode(sig_b64, validate=True)
            lines = text.split("\n")
            Ed25519PublicKey.from_public_bytes(pub[1:]).verify(sig[4:], (text + "\n").encode())
        except (ValueError, AttributeError, InvalidSignature) as exc:
            raise EntropyInvalid(
                f"partner-checkpoints: {cp.get('partner')}: checkpoint does not verify ({exc})"
            ) from None
        khash = hashlib.sha256(name.encode() + b"\n" + pub).digest()[:4].hex()
        if pub[:1] != b"\x01" or kid != cp["key_id"] or khash != kid or sig[:4].hex() != kid:
            raise EntropyInvalid(f"partner-checkpoints: {cp['partner']}: key id mismatch")
        if sig_name != name or lines[0] != name:
            raise EntropyInvalid(f"partner-checkpoints: {cp['partner']}: origin is not {name}")
        times = [x[5:] for x in lines[3:] if x.startswith("time ")]
        if len(times) != 1 or not times[0] > after:
            raise EntropyInvalid(
                f"partner-checkpoints: {cp['partner']}: checkpoint not issued after {after}"
            )


def check_records(records: Sequence[dict[str, Any]]) -> None:
    if not records:
        raise EntropyInvalid("no entropy records: a draw needs at least one")
    for rec in records:
        check_record(rec)
