"""Reference submission 'dsvae' trained by `msd-bench train` (code in msd_bench.methods)."""

from msd_bench.methods import build_model


def build(**config):
    """Entry point (model:build): the manifest's config holds the method name and its sizes."""
    return build_model(**config)
