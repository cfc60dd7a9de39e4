# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
class Plain:
    """No predict at all: seldon-core answers 200 with an empty array."""
