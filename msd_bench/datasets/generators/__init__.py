"""Procedural, deterministic generators of the built-in datasets (one module per dataset)."""
