"""``unetkit serve``: segmentation web page and HTTP API (FastAPI + uvicorn; ``pip install unetkit[serve]``).

:func:`create_app` builds the ASGI app; the pieces (limits, result store, worker pool, jobs) are usable alone.
"""

from __future__ import annotations

from unetkit.serve.limits import ServeLimits

__all__ = ["ServeLimits", "create_app"]


def __getattr__(name: str) -> object:
    # create_app imports FastAPI: only load it when asked, so `unetkit --help` works without the extra.
    if name == "create_app":
        from unetkit.serve.app import create_app

        return create_app
    raise AttributeError(name)
