"""The auditable draw: pure functions from committed frames, a plan and public entropy to a
reproducible selection of enterprises and inspector teams (docs/draw-algorithm.md).

Modules: canonical (bytes to hash), merkle (RFC 6962 tree), plan (YAML -> canonical plan),
frame (units, row bytes, commitments), entropy / seed, select (tickets, quotas, orders),
teams, core (``draw``), bundle (verification bundles), verify_bundle (stdlib-only verify.py).
"""
