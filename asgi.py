"""ASGI entry point: `uvicorn asgi:app --ws-per-message-deflate false`.

The websocket endpoint is served in front of Litestar (RealtimeASGI): the same engine as the
Litestar route, minus the framework's per-connection work (about 2.5 KiB less per connection).
"""

from hub.app import create_app
from realtime.gateway import RealtimeASGI

litestar_app = create_app()
app = RealtimeASGI(litestar_app, litestar_app.state.realtime)
