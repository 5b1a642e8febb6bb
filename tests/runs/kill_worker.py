"""The real worker settings, on a queue of the test's own (HUB_TEST_QUEUE), so a test can
send one run to a worker process it is about to SIGKILL while the in-process worker keeps
serving the default queue."""

from __future__ import annotations

import os

from workers.settings import WorkerSettings as _Base

# arq reads the settings class's own __dict__, so copy rather than subclass.
WorkerSettings = type(
    "WorkerSettings",
    (),
    {
        **{k: v for k, v in vars(_Base).items() if not k.startswith("__")},
        "queue_name": os.environ["HUB_TEST_QUEUE"],
    },
)
