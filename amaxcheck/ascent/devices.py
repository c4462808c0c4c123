"""Where the ascent runs: ``AscentConfig.devices`` resolved against this machine's devices.

``None`` keeps TensorFlow's own placement (the default engine). ``"all"`` is
every logical GPU, or every logical CPU device where there is no GPU (unlike
``tf.distribute.MirroredStrategy()``, which takes only ``/cpu:0`` then), so a
CPU split into logical devices with ``tf.config.set_logical_device_configuration``
counts. Names are matched by device type and index (``/gpu:1``, ``GPU:1``,
``/device:GPU:1`` and ``/job:localhost/replica:0/task:0/device:GPU:1`` are one
device); an unknown or malformed name is a :class:`~amaxcheck.errors.ConfigError`
listing the devices there are.
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf

from ..errors import ConfigError


def _known() -> list[tuple[str, int, str]]:
    """``(type, index, name)`` of every logical device of this process (e.g. ``("CPU", 1, "/device:CPU:1")``)."""
    out = []
    for device in tf.config.list_logical_devices():
        spec = tf.DeviceSpec.from_string(device.name)
        out.append((str(spec.device_type).upper(), int(spec.device_index or 0), device.name))
    return out


def available_devices() -> list[str]:
    """The logical device names of this process, as ``devices`` accepts them."""
    return [name for _, _, name in _known()]


def resolve_devices(devices: Any) -> tuple[str, ...] | None:
    """``None``, or the canonical names (``/device:GPU:0``) of the devices ``devices`` selects, in the given order."""
    if devices is None:
        return None
    known = _known()
    if devices == "all":
        gpus = [name for kind, _, name in known if kind == "GPU"]
        return tuple(gpus or [name for kind, _, name in known if kind == "CPU"])
    there = ", ".join(name for _, _, name in known)
    out: list[str] = []
    for given in devices:
        try:
            spec = tf.DeviceSpec.from_string(given)
        except ValueError:
            spec = None
        if spec is None or spec.device_type is None or spec.job not in (None, "localhost") \
                or spec.replica not in (None, 0) or spec.task not in (None, 0):
            raise ConfigError(f"devices: {given!r} is not a device name of this machine; name devices like /gpu:0 "
                              f"or /cpu:0 (this machine has {there}), or pass devices='all' (--devices all)")
        if spec.device_index is None:
            raise ConfigError(f"devices: {given!r} names no single device; add its index, e.g. "
                              f"{given.rstrip(':')}:0 (this machine has {there}), or pass devices='all' (--devices all)")
        match = [name for kind, index, name in known
                 if kind == str(spec.device_type).upper() and index == spec.device_index]
        if not match:
            raise ConfigError(f"devices: unknown device {given!r}; this machine has {there}. Pass names from that list, "
                              "or devices='all' (--devices all) for every GPU (else every CPU device)")
        if match[0] in out:
            raise ConfigError(f"devices: {given!r} is {match[0]}, listed twice; list each device once")
        out.append(match[0])
    return tuple(out)
