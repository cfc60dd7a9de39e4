"""Which service.json field an EAS refusal blames (easlab/cloud/errors.py)."""

from __future__ import annotations

import pytest

from easlab.cloud.errors import field_named


@pytest.mark.parametrize(
    ("message", "field"),
    [
        # the field said to be required wins over a longer one the message also names
        ("oss_endpoint is required with an oss:// processor_path", "oss_endpoint"),
        ("processor_path is missing", "processor_path"),
        # otherwise the longest (the most specific) field named
        ("metadata.instance must be positive; see processor", "metadata.instance"),
        ("nothing of the service.json here", None),
        # the blocks only PAI-EAS reads, an item's index and its nested field kept
        ("storage[0].mount_path is required", "storage[0].mount_path"),
        ("invalid value of containers[1].port: abc", "containers[1].port"),
        ("dockerAuth is not valid base64", "dockerAuth"),
        ("networking.gateway does not exist", "networking.gateway"),
        ("cloud.computing.instance_type ecs.x is sold out", "cloud.computing.instance_type"),
        ("out of stock for storage[2].", "storage[2]"),
        ("check metadata.instance.", "metadata.instance"),
    ],
)
def test_the_field_an_eas_message_blames(message: str, field: str | None) -> None:
    assert field_named(message) == field
