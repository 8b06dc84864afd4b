"""msd-bench: benchmark harness and leaderboard for multi-factor sequential disentanglement."""

from __future__ import annotations

__version__ = "0.1.0"

#: The benchmark protocol version (datasets + judges + metric definitions). Bump on any change.
PROTOCOL = "msd-bench-1"

__all__ = ["__version__", "PROTOCOL"]
