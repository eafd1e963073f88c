"""The package's own errors: each is raised on purpose with a one-line message that names what is wrong (a config
key, a file, an option) and what to do. ``effscale <stage>`` prints them as one line; anything else keeps its
traceback (a bug, in effscale or below it, should be seen whole)."""
from __future__ import annotations


class EffscaleError(Exception):
    """An error effscale raises on purpose; its message is one line a user can act on."""


class HardwareError(EffscaleError, RuntimeError):
    """The machine cannot run what was asked (no GPU for ``device: cuda``, too few GPUs, nothing fits in memory)."""


class ConfigError(EffscaleError, ValueError):
    """A configuration value is not allowed; the message names the key and what is allowed."""
