"""The partner-bureau exchange (信息互换、执法互助、监管互认); see docs/exchange-protocol.md.

No central server: each bureau keeps an append-only RFC 6962 log of what it shares
(``log``), serves it with signed checkpoints to partners who sign every request
(``api``, ``httpsig``), and pulls its partners' logs, verifying before applying (``sync``)
what the partner client (``client``) read, each answer within what it may be (``bounds``,
``answers``, ``codings``).

Pure parts: ``proofs`` (compact ranges, consistency proofs), ``notes`` (C2SP signed notes and
checkpoints), ``entries`` (entry format). Importing the package wires the exchange into the
rounds (``hooks.install``): each draw appends its round record to the log in the draw's own
transaction, and the ``partner-checkpoints`` entropy source is registered (rounds committed to
it before still draw; no new round can name it: ``exchange.entropy``).
"""

from exchange.hooks import install

install()
