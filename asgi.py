"""ASGI entry point: `uvicorn asgi:app`."""

from hub.app import create_app

app = create_app()
