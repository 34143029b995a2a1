"""``hydra/sweeper=alchemy``: AlchemyCat-style grid sweeps with a metric frame."""
