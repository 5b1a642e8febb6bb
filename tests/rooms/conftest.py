"""Rooms fixtures: the websocket URL for the SDK clients."""

from tests.community.test_feed_notifications import ws_url  # noqa: F401
