"""Money fixtures: `grant_completed_run` (a real paid run) is shared with the prompts tests."""

from tests.prompts.conftest import grant_completed_run  # noqa: F401
