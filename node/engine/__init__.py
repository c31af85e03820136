"""The data-structure engine: a pure, deterministic executor of Redis commands."""
