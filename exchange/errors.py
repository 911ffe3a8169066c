"""Errors of the exchange. Each carries a message a coordinator can act on."""

from __future__ import annotations

from shuangsui.errors import ShuangsuiError, UserError


class ExchangeError(ShuangsuiError):
    """Base of the exchange's own errors."""


class DirectoryError(UserError):
    """The partner directory (partners.toml) is malformed: the message names file and field."""


class NoteError(ExchangeError):
    """A signed note or checkpoint does not parse or does not verify."""


class UnknownSigner(NoteError):
    """A signed note carries no signature by any key it was checked against; ``signers`` are
    the names of the keys it is signed by (``<name>+<key hash>``)."""

    def __init__(self, message: str, signers: list[str]):
        super().__init__(message)
        self.signers = signers


class SignatureRejected(ExchangeError):
    """An HTTP request's RFC 9421 signature, digest, nonce or freshness is not acceptable."""


class SyncRejected(ExchangeError):
    """A partner's answer cannot be applied: nothing was applied, the cursor did not move."""


class EntryRefused(SyncRejected):
    """An entry of a partner's signed log that this shuangsui refuses (malformed, or more than
    our tables hold): the sync applies nothing, and since the entry stays in that log for good
    (nothing is removed; a correction would come after it), no later sync can apply it or any
    entry after it. The message says so, with the entry, the field and the rule, and what to
    do (docs/exchange-protocol.md, "An entry refused")."""

    def __init__(self, code: str, seq: int, what: str):
        super().__init__(
            f"partner {code}: entry {seq}: {what}. Refused, and for good: the entry is in "
            f"{code}'s signed log, where nothing is removed and a correction would come after "
            f"it, so no sync applies entry {seq} or any after it. The exchange has no way to "
            f"tell {code}: tell its operators, naming entry {seq} and this rule "
            '(docs/exchange-protocol.md, "An entry refused")'
        )
        self.code, self.seq, self.what = code, seq, what


class HistoryRewritten(SyncRejected):
    """A partner's new checkpoint is not consistent with one it signed before."""

    def __init__(self, message: str, *, trusted: str, conflicting: str, proof: list[str]):
        super().__init__(message)
        self.trusted = trusted
        self.conflicting = conflicting
        self.proof = proof


class BelowQuorum(SyncRejected):
    """A partner's checkpoint lacks the cosignatures the directory's witness_quorum asks."""


class Equivocated(SyncRejected):
    """A partner signed two different checkpoints of one size: a proof is held."""


class LogContentRefused(UserError):
    """An entry would share something that is never shared (contacts, internal notes)."""


class KindNotWritable(UserError):
    """An entry of a kind some partner that pulls our log is not known to read or keep: it
    would stop that partner's syncs for good (``exchange.kinds``)."""
