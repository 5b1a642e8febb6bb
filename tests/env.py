"""Environment variables for the hub's settings, set for a while and then put back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def settings_env(env: dict[str, str]) -> Iterator[None]:
    """Set `env`, re-read the settings, and on the way out restore every variable as it was
    (unset ones unset) and re-read them again."""
    from hub.platform.settings import get_settings

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
