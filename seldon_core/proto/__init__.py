"""``seldon_core.proto``: names for annotations only (over REST the hooks get dicts)."""
