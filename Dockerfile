FROM python:3.12-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml constraints.txt README.md ./
COPY hub ./hub
COPY realtime ./realtime
COPY workers ./workers
RUN pip install -c constraints.txt -e .
COPY asgi.py piccolo_conf.py ./
COPY static ./static
EXPOSE 8000
# The app by default; the worker service overrides the command.
CMD ["sh", "-c", "python -m hub.platform.migrate && uvicorn asgi:app --host 0.0.0.0 --port 8000 --ws-per-message-deflate false --no-proxy-headers"]
