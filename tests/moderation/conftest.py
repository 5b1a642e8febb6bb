"""Moderation fixtures: `grant_completed_run` is shared with the prompts tests."""

from tests.prompts.conftest import grant_completed_run  # noqa: F401
