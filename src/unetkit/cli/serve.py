"""``unetkit serve MODEL``: a web page and HTTP API for a trained model (``pip install unetkit[serve]``).

Open the printed address in a browser: drop images, see input / overlay / mask with an opacity slider, the
class areas and the instance count, and download the results. The HTTP API and its OpenAPI schema are at
``/docs``. MODEL is anything ``unetkit predict`` accepts, a Mask R-CNN model (``unetkit fit-maskrcnn``)
included: its instances are outlined and counted, ``score_threshold`` as ``predict --score-threshold``.

Binds to 127.0.0.1 unless ``--host`` says otherwise. With ``--token`` (or the UNETKIT_SERVE_TOKEN environment
variable) every ``/api`` route needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from unetkit.serve.pool import WorkerPool

logger = logging.getLogger(__name__)

TOKEN_ENV = "UNETKIT_SERVE_TOKEN"  # also named by unetkit.serve.app (kept here: no FastAPI import for --help)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    from unetkit.cli.console import help_description

    p = sub.add_parser(
        "serve",
        help="web page + HTTP API for a trained model (drop images, see masks and class areas)",
        description=help_description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from unetkit.inference.backends import list_backends

    p.add_argument("model", type=Path, metavar="MODEL", help="run folder, .ckpt, or model folder")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 = any free port)")
    p.add_argument(
        "--backend",
        choices=list_backends(),
        default="auto",
        help="inference engine (default auto: the fastest backend that passed its checks on this machine, "
        "else torch; see `unetkit benchmark`)",
    )
    p.add_argument(
        "--device", default="auto",
        help="torch device: cpu, cuda, cuda:1 or auto (default auto: cuda when torch sees a GPU, else cpu; "
        "GET /api/model says which)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=None,
        help="images segmented at once (default 2 on a multi-core CPU, each with half the cores: less CPU "
        "per request and a lower p95 than 1 x all cores, benchmarks/results/serve/load_prev.md)",
    )  # fmt: skip
    p.add_argument(
        "--pool", choices=("thread", "process"), default="thread",
        help="run inference in threads (default: one model in memory, 14 %% less CPU per request here: "
        "benchmarks/results/serve/load_prev.md) or "
        "worker processes (a crash or memory kill loses one request, not the server)",
    )  # fmt: skip
    p.add_argument(
        "--threads", type=int, default=None, metavar="N",
        help="inference threads per worker for every engine: torch, onnxruntime, OpenVINO (--backend auto "
        "times them at this count; default: the CPU count divided by --workers)",
    )  # fmt: skip
    p.add_argument(
        "--queue", type=int, default=16, help="requests waiting beyond --workers (more get 503; default 16)"
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per request before 504 (default 120)"
    )
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest image file in MiB (default 50)")
    p.add_argument(
        "--max-pixels", type=int, default=4096 * 4096, help="largest width x height (default 4096 x 4096)"
    )
    p.add_argument("--keep", type=int, default=256, help="results kept at most (default 256)")
    p.add_argument(
        "--keep-mb", type=float, default=1024.0, help="disk for kept results in MiB (default 1024)"
    )
    p.add_argument(
        "--ttl", type=float, default=3600.0, help="seconds a result stays available (default 3600)"
    )
    p.add_argument(
        "--token", default=None,
        help=f"require 'Authorization: Bearer TOKEN' on /api routes (default: ${TOKEN_ENV} if set)",
    )  # fmt: skip
    p.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error"), help="default info"
    )


def run(args: argparse.Namespace) -> int:
    """Build the app (loads the model: a bad MODEL fails before binding) and serve it with uvicorn."""
    try:
        import uvicorn

        from unetkit.serve.app import close_server, create_app
        from unetkit.serve.limits import MIB, ServeLimits, format_bytes
        from unetkit.serve.pool import SHUTDOWN_WAIT_S
    except ImportError as exc:
        raise ValueError(
            f"unetkit serve needs the 'serve' extra ({exc.name} is missing): pip install 'unetkit[serve]'"
        ) from exc
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {args.port}.")
    if args.workers is None:
        args.workers = 2 if (os.cpu_count() or 1) >= 2 else 1
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}.")
    if args.queue < 0:
        raise ValueError(f"--queue must be >= 0, got {args.queue}.")
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}.")
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    limits = ServeLimits(
        max_upload_bytes=int(args.max_upload_mb * MIB),
        max_pixels=args.max_pixels,
        queue_size=args.queue,
        timeout_s=args.timeout,
        store_items=args.keep,
        store_bytes=int(args.keep_mb * MIB),
        store_ttl_s=args.ttl,
    )
    # "auto" is resolved by the worker pool, once for every worker (unetkit.devices.resolve_device), and so
    # is backend auto's choice. The pool gives the engine that loads the threads (torch's, this process's for
    # --pool thread, only when the model runs on torch: on OpenVINO / onnxruntime torch is never imported).
    backend_options = {"device": args.device} if args.backend in ("torch", "auto") else {}
    app = create_app(
        args.model,
        backend=args.backend,
        workers=args.workers,
        pool=args.pool,
        limits=limits,
        token=token,
        threads_per_worker=threads,
        backend_options=backend_options,
    )
    info = app.state.model_info
    engine = info["backend"] + (f" {info['precision']}" if info.get("precision") else "")
    # What is served, said once at startup (the console otherwise names only uvicorn's address).
    logger.info(
        "serving %s (%d classes: %s) on %s, %s; %d %s worker(s); uploads up to %s and %d pixels, "
        "--timeout %g s",
        info["architecture"],
        len(info["classes"]),
        ", ".join(c["name"] for c in info["classes"][:12]) + (", ..." if len(info["classes"]) > 12 else ""),
        engine,
        info["device"],
        args.workers,
        args.pool,
        format_bytes(limits.max_upload_bytes),
        limits.max_pixels,
        limits.timeout_s,
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning(
            "serving on %s: other machines can reach it%s",
            args.host,
            "" if token else " and no --token is set",
        )
    # access_log off: the app logs one line per prediction itself (file name, size, status, time), which
    # says more than uvicorn's access line. A request still running 10 s into a shutdown is cancelled (its
    # client gets a one-line JSON 503), as the pool's own wait for its jobs.
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=int(SHUTDOWN_WAIT_S),
    )
    server = _stopping_server(uvicorn, config, app)
    try:
        server.run()
    finally:
        # The app's shutdown did this already, unless uvicorn stopped before running it (or ran it and
        # re-raised Ctrl-C): no path leaves a running job or the results folder behind.
        close_server(app.state.pool, app.state.store)
    return 0


def _stopping_server(uvicorn: Any, config: Any, app: FastAPI) -> Any:
    """A ``uvicorn.Server`` whose shutdown (Ctrl-C, SIGTERM) first cancels the app's jobs.

    uvicorn waits for open connections before it runs the app's shutdown, and a request waiting for its
    job keeps its connection open: without this, Ctrl-C waited for every running prediction to end or reach
    ``--timeout``. Cancelled jobs stop after their current batch of tiles and answer their clients 503.
    A second Ctrl-C makes uvicorn skip the app's shutdown; it is run here all the same (waiting for no
    job), since the app's lifespan task, left waiting for it, would be cancelled at exit with a traceback.
    """
    pool: WorkerPool = app.state.pool

    class StoppingServer(uvicorn.Server):  # type: ignore[misc, name-defined]
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            pool.stop_jobs()
            await super().shutdown(sockets)
            done = getattr(self.lifespan, "shutdown_event", None)
            if self.force_exit and done is not None and not done.is_set():
                app.state.shutdown_wait_s = 0.0
                await self.lifespan.shutdown()

    return StoppingServer(config)
