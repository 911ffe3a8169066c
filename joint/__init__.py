"""Joint rounds (联合抽查): one bureau's enterprises, inspectors from several bureaus, entropy that
no single bureau controls (commit-reveal between bureaus). docs/exchange-protocol.md, "Joint
rounds"; docs/draw-algorithm.md §13."""
