"""The ``unetkit serve`` web application: HTTP API (OpenAPI at ``/docs``) and the page at ``/``.

Why FastAPI + uvicorn: it is the Python ecosystem's convention for model-serving HTTP APIs (BentoML, Ray
Serve and MONAI Label build on Starlette/FastAPI), it generates the OpenAPI schema and the ``/docs`` page from
the typed endpoint signatures (one description of each option, validated on the way in), handles multipart
uploads spooled to disk (python-multipart), runs the same app in-process for tests (``TestClient``) and
serves static files, so the page needs no second server. uvicorn is its reference ASGI server.

Endpoints (every ``/api`` route needs ``Authorization: Bearer <token>`` when the server has a token):

* ``GET /api/health``: status, backend, device and precision (as ``/api/model``), queue and store state.
* ``GET /api/model``: architecture, backend (the engine that runs: ``--backend auto`` resolved, with
  ``backend_requested`` and ``precision``) and device (``--device auto`` resolved), classes with colours,
  channels, normalisation, geometry, instance methods (``instances``: the choices, what ``auto`` runs),
  limits.
* ``POST /api/predict``: multipart ``file`` + options -> JSON summary with links to the result files;
  ``instances=auto`` runs the model's own instance method, as ``unetkit predict --instances auto``, and is
  the default of a model that records one (trained on instance labels; others: none). A prediction that
  fails unexpectedly is a 500 with the same one-line JSON ``detail`` as every other error. A Mask R-CNN
  model (``unetkit fit-maskrcnn``) always returns its instances (outlined on the overlay, counted), with
  ``score_threshold`` as ``unetkit predict --score-threshold``. ``progress_id`` (32 hex digits the client
  chose at random) lets the client follow the request while it runs:
* ``GET /api/progress/{progress_id}``: ``stage`` (queued, decoding, predicting, writing), ``tiles_done`` of
  ``tiles_total`` (forward passes over all tiles and TTA views; None until predicting, and for a model that
  does not tile), ``elapsed_s``; 404 before the request is admitted and once its job has ended.
* ``GET /api/results/{id}``: that summary again; ``GET /api/results/{id}/{file}``: ``input.png``,
  ``mask.png``, ``overlay.png`` (``?alpha=`` re-blends it), ``instances.png`` (16-bit ids),
  ``instances_color.png``, ``outlines.png``, ``probs.npy``;
  ``DELETE /api/results/{id}``.
* ``GET /``: the page (``unetkit/serve/static``: plain HTML/CSS/JS, nothing fetched from elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import io
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unetkit import __version__
from unetkit.constants import OVERLAY_ALPHA
from unetkit.data.io import CORRUPT_FIX
from unetkit.serve.jobs import (
    MEDIA_TYPES,
    RESULT_FILES,
    Job,
    JobError,
    RequestOptions,
    check_choice,
)
from unetkit.serve.limits import (
    MULTIPART_SLACK,
    PREDICT_INSTEAD,
    BodySizeLimit,
    Rejected,
    ServeLimits,
    check_image,
    format_bytes,
    send_json,
)
from unetkit.serve.pool import SHUTDOWN_WAIT_S, SHUTTING_DOWN, WorkerPool
from unetkit.serve.store import ResultStore, check_result_id, new_result_id

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
TOKEN_ENV = "UNETKIT_SERVE_TOKEN"
# The page loads only its own files; images are blob: URLs made from authenticated fetches.
_PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_FILE_NAMES = tuple(RESULT_FILES.values())
# read_image's fix for a file it cannot decode speaks of a folder of files ("remove it from the folder");
# for an upload the fix is to send it again.
UPLOAD_CORRUPT_FIX = "re-save it and upload it again"


def _clean_filename(name: str | None) -> str:
    """The client's file name, for messages and the summary only (never a path): base name, printable."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:120] or "upload"


# What each ``tta`` value does: the form's description and the error for a wrong value say the same.
TTA_MEANINGS = (
    "model (what the run scored the model with, as unetkit predict uses; the default), none, flips (4 flips) "
    "or d4 (8 flips/rotations)"
)


def upload_fix(url: str, token: bool) -> str:
    """How to send an image to ``/api/predict`` (``url``), with the token header when the server has one."""
    auth = ' -H "Authorization: Bearer $TOKEN"' if token else ""
    return f"send the image as multipart form field file, e.g. curl{auth} -F file=@x.png {url}"


def _got(value: object) -> str:
    """`` (got 'x')`` for a short scalar the client sent, else nothing (a long value is not echoed)."""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 40):
        return f" (got {value!r})"
    return ""


def _one_line_validation(exc: RequestValidationError, sent: str = "", fix: str = "") -> str:
    """FastAPI's validation errors as one line, each ``field: reason (got value)``.

    ``sent`` (what the request held instead of the image, e.g. "a body of type application/json") and
    ``fix`` (how to send an image) make a missing or non-file ``file`` field say how to upload; without them
    it is reported as any other field.
    """
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        msg = str(err.get("msg", "invalid"))
        kind = err.get("type")
        value = err.get("input")
        if loc == "file" and fix and kind == "missing":
            parts.append(f"file: no image in the request (got {sent}); {fix}")
        elif loc == "file" and fix and isinstance(value, str):
            # `curl -F file=x.png` (no @) sends the name as text, not the file.
            parts.append(
                f"file: got the text {value[:40]!r}, not a file (curl needs the @ in file=@NAME); {fix}"
            )
        elif loc == "tta" and kind == "literal_error":
            parts.append(f"tta: got {value!r}; use {TTA_MEANINGS}")
        elif loc:
            parts.append(f"{loc}: {msg}{'' if kind == 'missing' else _got(value)}")
        else:
            parts.append(msg)
    return "; ".join(parts) or "invalid request"


async def _what_was_sent(request: Request) -> str:
    """What a request without an image file held, for its error: the multipart form's field names (the form
    FastAPI already parsed, cached on the request), else the body's content type."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        try:
            form = await request.form()
        except RuntimeError:  # not cached after all (the body was read once): say less, still answer 422
            return "a multipart form without it"
        names = sorted({_clean_filename(name) for name in form.keys()})
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        return f"a multipart form with the fields {shown}" if names else "an empty multipart form"
    if content_type == "application/x-www-form-urlencoded":
        # curl's --data / --data-binary send this: the file's bytes as a form, not a file upload.
        return "an application/x-www-form-urlencoded body, as curl --data sends; -F sends a multipart form"
    if content_type:
        shown = "".join(ch for ch in content_type if ch.isprintable())[:60]
        return f"a body of type {shown}, not a multipart form"
    return "no body"


T = TypeVar("T")
# nginx's code for "client closed request": logged for a request whose client left; nobody receives it.
CLIENT_GONE = 499


class ClientGone(Exception):
    """The client closed its connection before its answer was ready."""


async def _until_client_leaves(request: Request) -> None:
    """Return once the client has closed its connection.

    The endpoint runs after the whole body was read, so the server's ``receive()`` has nothing more to give
    until the connection closes (uvicorn answers ``http.disconnect`` then; an in-process test client only
    once the response is sent).
    """
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def run_while_connected(request: Request, work: Awaitable[T]) -> T:
    """``await work``, cancelled when the client leaves first (a closed tab, a reloaded page, the page's
    Cancel button, a client's own timeout): ASGI servers do not cancel a request's task when its client
    goes, so a job would otherwise run on for nobody and hold a worker until ``--timeout``.

    Raises:
        ClientGone: the client left; ``work`` was cancelled (the pool then cancels its job).
    """
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_until_client_leaves(request))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watch.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task  # the pool's own cancel handling runs (its job's cancel flag) before the answer
    raise ClientGone


class ShutdownAnswer:
    """ASGI middleware: a request that the server's shutdown cancels outside the prediction (its upload still
    arriving at a second Ctrl-C, uvicorn's forced exit, or at the end of the graceful-shutdown wait) is
    answered with the one-line JSON 503 of every other error and logged in one line, where uvicorn printed
    "Exception in ASGI application" and a traceback and the client's connection was dropped. A request
    cancelled while the pool runs its job is answered by ``/api/predict`` itself; any other cancellation (the
    server not stopping) goes on as it was.
    """

    def __init__(self, app: ASGIApp, pool: WorkerPool) -> None:
        self.app = app
        self.pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self.pool.closing or task is None:
                raise
            task.uncancel()
            logger.info("%s %s: 503 %s", scope.get("method", ""), scope.get("path", ""), SHUTTING_DOWN)
            if not started:
                with contextlib.suppress(Exception):  # the connection may be gone already
                    await send_json(send, 503, SHUTTING_DOWN)


_BEARER = HTTPBearer(auto_error=False, description="only when the server was started with a token")
# Module level, not inside create_app: FastAPI resolves these (string) annotations in the module namespace.
ResultId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$", description="id from /api/predict")]
PROGRESS_ID_PATTERN = r"^[0-9a-f]{32}$"
ProgressId = Annotated[
    str, PathParam(pattern=PROGRESS_ID_PATTERN, description="the progress_id sent with /api/predict")
]
# A string checked in the endpoint, not a Literal: the methods that fit depend on the served model (and on
# plugins registering methods), which this module-level annotation cannot know.
# An empty form field is the option left out (FastAPI reads "" as absent): the example of every option
# whose default is "absent" is "", so that /docs' "Try it out", which pre-fills each field with its example
# (else with a made-up value: 32, "string", 1), sends a request that runs as it is.
UNSET_EXAMPLE = [""]
InstancesForm = Annotated[
    str | None,
    Form(
        examples=UNSET_EXAMPLE,
        description="count instances (+ instances.png): none, auto (the model's own method, as `unetkit "
        "predict --instances auto`) or a method that fits the model (GET /api/model: instances.choices); "
        "empty = auto for a model that records its own method (GET /api/model: instances.own, e.g. one "
        "trained on instance labels), else none; a Mask R-CNN model returns its instances whatever this says",
    ),
]


class TokenCheck:
    """Dependency of every ``/api`` route: 401 unless ``Authorization: Bearer <token>`` matches."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    def __call__(self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if self.token is None:
            return
        given = credentials.credentials if credentials is not None else ""
        # Constant-time comparison: the response time must not reveal how much of a guess was right.
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise HTTPException(
                401,
                "missing or wrong token: send 'Authorization: Bearer <token>' (the server's --token or "
                f"{TOKEN_ENV})",
                headers={"WWW-Authenticate": "Bearer"},
            )


def _new_app() -> FastAPI:
    kwargs: dict[str, Any] = {
        "title": "unetkit serve",
        "version": __version__,
        "description": "Segmentation with a unetkit model (a U-Net or a Mask R-CNN): upload an image, get "
        "the class mask, overlay, class areas and instances.",
    }
    try:
        # Swagger UI files shipped in a wheel: /docs works without network access, like the page.
        from fastapi_offline import FastAPIOffline

        return FastAPIOffline(**kwargs, redoc_url=None)
    except ImportError:
        logger.info("fastapi-offline not installed: /docs loads Swagger UI from its CDN")
        return FastAPI(**kwargs, redoc_url=None)


def create_app(
    model: str | Path,
    *,
    backend: str = "torch",
    workers: int = 1,
    pool: str = "thread",
    limits: ServeLimits | None = None,
    token: str | None = None,
    threads_per_worker: int | None = None,
    backend_options: dict[str, Any] | None = None,
    store_root: str | Path | None = None,
) -> FastAPI:
    """Build the app and load the model in its workers (a bad ``model`` fails here, before serving).

    Args:
        model: anything ``unetkit predict`` accepts.
        backend: inference backend (``unetkit.inference.backends.list_backends()``).
        workers: inference jobs running at once.
        pool: "thread" or "process" (:class:`~unetkit.serve.pool.WorkerPool`).
        limits: upload, pixel, queue, timeout and store limits.
        token: when set, every ``/api`` route needs ``Authorization: Bearer <token>``.
        threads_per_worker: threads of each worker's inference engine (torch, onnxruntime or OpenVINO; for
            torch and pool "thread", this process's count, shared by the worker threads); also the thread
            count at which backend auto times every engine, once, in this process.
        backend_options: extra ``load_predictor`` keyword arguments (e.g. ``device``).
        store_root: folder for results (default: a private temporary folder removed at shutdown).
    """
    limits = limits or ServeLimits()
    if token is not None and not token:
        raise ValueError("token is empty; pass a non-empty token or none.")
    worker_pool = WorkerPool(
        model,
        backend=backend,
        workers=workers,
        queue_size=limits.queue_size,
        kind=pool,
        threads_per_worker=threads_per_worker,
        backend_options=backend_options,
    )
    try:
        model_info = worker_pool.start()
    except BaseException:
        worker_pool.close()
        raise
    store = ResultStore(store_root, limits.store_items, limits.store_bytes, limits.store_ttl_s)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def purge() -> None:
            # Expired results go even when nobody calls the API for a while.
            while True:
                await asyncio.sleep(min(60.0, limits.store_ttl_s / 2))
                await asyncio.to_thread(store.purge_expired)

        task = asyncio.create_task(purge())
        try:
            yield
        finally:
            task.cancel()
            # In a thread: waiting for cancelled jobs to stop must not block the event loop. A forced exit
            # (a second Ctrl-C) sets shutdown_wait_s to 0: it waits for nothing.
            wait_s = getattr(app.state, "shutdown_wait_s", SHUTDOWN_WAIT_S)
            await asyncio.to_thread(close_server, worker_pool, store, wait_s)

    app = _new_app()
    app.router.lifespan_context = lifespan
    app.state.pool = worker_pool
    app.state.store = store
    app.state.limits = limits
    app.state.model_info = model_info
    app.add_middleware(
        BodySizeLimit,
        max_bytes=limits.max_upload_bytes + MULTIPART_SLACK,
        paths=("/api/predict",),
        upload_limit=limits.max_upload_bytes,
    )
    # Outside the size limit: it answers whatever the shutdown cancels, an upload being read included.
    app.add_middleware(ShutdownAnswer, pool=worker_pool)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        sent = fix = ""
        if any(tuple(err.get("loc", ())) == ("body", "file") for err in exc.errors()):
            # Only /api/predict has a file field: a client that sent the image some other way (another
            # field name, a raw body, JSON) gets the upload spelled out.
            sent = await _what_was_sent(request)
            fix = upload_fix(str(request.url.replace(query="")), token is not None)
        detail = _one_line_validation(exc, sent, fix)
        logger.info("%s %s: 422 %s", request.method, request.url.path, detail)
        return JSONResponse({"detail": detail}, status_code=422)

    api = [Depends(TokenCheck(token))]
    # The instance methods this model takes: known once its worker described it (the model's own method and
    # the ones that fit its classes).
    instance_choices: list[str] = list(model_info["instances"]["choices"])
    # A request that names no method gets the model's own when it records one (as the page preselects it).
    default_instances = str(model_info["instances"]["default"])

    def links(request: Request, result_id: str, files: list[str]) -> dict[str, str]:
        root = request.scope.get("root_path", "")
        return {kind: f"{root}/api/results/{result_id}/{RESULT_FILES[kind]}" for kind in files}

    def stored(result_id: str) -> Any:
        entry = store.get(result_id)
        if entry is None:
            raise HTTPException(
                404,
                f"result {result_id[:40]} not found or expired (results are kept {limits.store_ttl_s:g} s)",
            )
        return entry

    @app.get("/api/health", dependencies=api, tags=["server"])
    async def health() -> dict[str, Any]:
        """Liveness and load: the engine that runs (backend, device, precision as in /api/model), queue and
        result-store state."""
        return {
            "status": "ok",
            "version": __version__,
            "model": model_info["architecture"],
            "backend": model_info["backend"],
            "device": model_info["device"],
            "precision": model_info["precision"],
            "pool": worker_pool.stats(),
            "store": store.stats(),
        }

    @app.get("/api/model", dependencies=api, tags=["server"])
    async def model_endpoint() -> dict[str, Any]:
        """The served model: architecture, backend and the device it runs on, classes (name, colour),
        channels, normalisation, geometry, instance methods; and the server's limits."""
        # "instead": what the page's own upload-limit refusal names for larger files (the server's words).
        page_limits = {**asdict(limits), "instead": PREDICT_INSTEAD}
        return {**model_info, "limits": page_limits, "workers": workers, "pool": worker_pool.kind}

    @app.post(
        "/api/predict",
        dependencies=api,
        tags=["predict"],
        responses={
            400: {"description": "empty upload"},
            401: {"description": "missing or wrong token"},
            413: {"description": "file or pixel count above the server's limit"},
            409: {"description": "progress_id already used by a running request"},
            415: {"description": "not a PNG, JPEG, TIFF or BMP image"},
            422: {"description": "corrupt or truncated image, wrong channel count, or invalid option"},
            500: {"description": "the prediction failed (the server log has the traceback)"},
            503: {"description": "queue full; retry after the Retry-After header's seconds"},
            504: {"description": "prediction took longer than the server's timeout"},
        },
    )
    async def predict(
        request: Request,
        file: Annotated[UploadFile, File(description="image: PNG, JPEG, TIFF or BMP")],
        tta: Annotated[
            Literal["model", "none", "flips", "d4"],
            Form(description=f"test-time augmentation: {TTA_MEANINGS}"),
        ] = "model",
        tile_size: Annotated[
            int | None,
            Form(ge=32, le=4096, examples=UNSET_EXAMPLE, description="input tile side; empty = automatic"),
        ] = None,
        instances: InstancesForm = None,
        min_size: Annotated[
            int | None,
            Form(
                ge=0,
                examples=UNSET_EXAMPLE,
                description="drop instances smaller than this (pixels); empty = the value `unetkit fit` "
                "chose on validation images for the model's own method, else 0",
            ),
        ] = None,
        alpha: Annotated[float, Form(ge=0.0, le=1.0, description="overlay colour weight")] = OVERLAY_ALPHA,
        probs: Annotated[bool, Form(description="also keep probabilities (probs.npy, float16)")] = False,
        score_threshold: Annotated[
            float | None,
            Form(
                ge=0.0,
                le=1.0,
                examples=UNSET_EXAMPLE,
                description="Mask R-CNN models only: keep detections scoring at least this; empty = the "
                "value fit-maskrcnn chose on validation images (else 0.5), as "
                "`unetkit predict --score-threshold`",
            ),
        ] = None,
        progress_id: Annotated[
            str | None,
            Form(
                pattern=PROGRESS_ID_PATTERN,
                examples=UNSET_EXAMPLE,
                description="32 hex digits chosen at random by the client: GET /api/progress/{progress_id} "
                "then says how far the prediction is while this request waits (a large image takes "
                "seconds); empty = not followed",
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Segment one image. Returns size, per-class pixel fractions, the instance count, timings and links
        to the result files (kept in a bounded store until they expire)."""
        start = time.perf_counter()
        name = _clean_filename(file.filename)
        # One console line per request (access_log is off): the client's file name, not a temp path.
        size: int | None = None
        status, outcome = 500, "failed"
        try:
            instances = instances or default_instances
            try:
                check_choice(instances, instance_choices, "instances")
            except JobError as exc:
                raise Rejected(exc.status, exc.detail) from None
            data = await file.read()
            size = len(data)
            suffix, _, _ = check_image(data, name, limits)
            options = RequestOptions(
                tta=tta,
                tile_size=tile_size,
                instances=instances,
                min_size=min_size,
                alpha=alpha,
                probs=probs,
                score_threshold=score_threshold,
            )
            result_id = new_result_id()
            job = Job(str(store.folder_for(result_id)), data, suffix, name, options)
            del data
            try:
                summary = await run_while_connected(
                    request,
                    worker_pool.run(
                        job,
                        limits.timeout_s,
                        on_abandon=lambda: store.discard(result_id),
                        progress_key=progress_id,
                    ),
                )
            except ClientGone:
                raise Rejected(CLIENT_GONE, f"{name}: the client went away; its job was cancelled") from None
            except asyncio.CancelledError:
                # The server's shutdown gave up on this request (its graceful-shutdown timeout, or a second
                # Ctrl-C): the pool cancelled the job; answer the client with the JSON of every other error
                # rather than a traceback and a plain-text 500.
                task = asyncio.current_task()
                if not worker_pool.closing or task is None:
                    raise
                task.uncancel()
                raise Rejected(503, SHUTTING_DOWN) from None
            except JobError as exc:
                raise Rejected(exc.status, exc.detail.replace(CORRUPT_FIX, UPLOAD_CORRUPT_FIX)) from None
            except Rejected:  # 503, 504, a worker process that died: answered as they are
                raise
            except Exception as exc:
                # A bug or an engine's failure, not the upload's fault: the traceback goes to the server
                # log, the client gets the JSON shape of every other error, naming what failed.
                logger.exception("prediction of %s failed", name)
                raise Rejected(
                    500, _failure_detail(name, exc).replace(str(store.root), "<results>")
                ) from None
            total_ms = round((time.perf_counter() - start) * 1000, 2)
            summary["timing_ms"]["total"] = total_ms
            summary["timing_ms"]["queue"] = round(max(total_ms - summary["timing_ms"]["job"], 0.0), 2)
            summary = {
                "id": result_id,
                **summary,
                "links": links(request, result_id, summary["files"]),
                "expires_in_s": limits.store_ttl_s,
            }
            await asyncio.to_thread(store.add, result_id, summary)
            shape = f"{summary['width']}x{summary['height']}"
            status, outcome = 200, f"{shape}, {len(summary['files'])} files, id {result_id[:8]}"
            return summary
        except StarletteHTTPException as exc:  # Rejected, and FastAPI's HTTPException, are ones
            status, outcome = exc.status_code, str(exc.detail)
            raise
        finally:
            shown = name if size is None else f"{name} ({format_bytes(size)})"
            logger.info("predict %s: %d %s in %.2f s", shown, status, outcome, time.perf_counter() - start)

    @app.get("/api/progress/{progress_id}", dependencies=api, tags=["predict"])
    async def progress(progress_id: ProgressId) -> dict[str, Any]:
        """How far the /api/predict request sent with this ``progress_id`` is: ``stage`` (queued, decoding,
        predicting, writing), ``tiles_done`` of ``tiles_total`` (forward passes over all tiles and TTA
        views; None until predicting begins, and for a model that does not tile), ``elapsed_s``."""
        found = worker_pool.progress(progress_id)
        if found is None:
            raise HTTPException(
                404,
                f"no running request with progress_id {progress_id}: it has not been admitted yet or has "
                "ended (its /api/predict answer has the result)",
            )
        return found

    @app.get("/api/results/{result_id}", dependencies=api, tags=["results"])
    def result_summary(result_id: ResultId) -> dict[str, Any]:
        """The summary returned by ``/api/predict`` for this result."""
        return dict(stored(result_id).summary)

    @app.get("/api/results/{result_id}/{file_name}", dependencies=api, tags=["results"], response_model=None)
    def result_file(
        result_id: ResultId,
        file_name: Literal[
            "input.png",
            "mask.png",
            "overlay.png",
            "instances.png",
            "instances_color.png",
            "outlines.png",
            "probs.npy",
        ],
        alpha: Annotated[
            float | None, Query(ge=0.0, le=1.0, description="overlay.png only: blend again with this weight")
        ] = None,
        download: Annotated[bool, Query(description="as an attachment")] = False,
    ) -> Response:
        """A result file: mask (palette PNG, value = class index), overlay, input, instances (16-bit PNG of
        instance ids), instances_color (the instances in colours, for viewing), outlines (RGBA: the
        overlay's instance outlines alone), probabilities ((K, H, W) float16 .npy)."""
        entry = stored(result_id)
        path = entry.folder / file_name
        if not path.is_file():
            raise HTTPException(
                404,
                f"result {result_id} has no {file_name} "
                "(the instances files need instances=..., probs.npy needs probs=true)",
            )
        stem = Path(entry.summary.get("filename", "image")).stem or "image"
        disposition = "attachment" if download else "inline"
        download_name = f"{stem}_{file_name}"
        if file_name == "overlay.png" and alpha is not None and alpha != entry.summary["options"]["alpha"]:
            body = _reblend(entry.folder, alpha, model_info["classes"])
            return Response(
                body,
                media_type="image/png",
                headers={"Content-Disposition": f'{disposition}; filename="{download_name}"'},
            )
        return FileResponse(
            path,
            media_type=MEDIA_TYPES[path.suffix],
            filename=download_name,
            content_disposition_type=disposition,
        )

    @app.delete("/api/results/{result_id}", dependencies=api, tags=["results"], status_code=204)
    def delete_result(result_id: ResultId) -> Response:
        """Remove a result before it expires."""
        stored(result_id)
        store.discard(check_result_id(result_id))
        return Response(status_code=204)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Content-Security-Policy": _PAGE_CSP})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def close_server(pool: WorkerPool, store: ResultStore, wait_s: float = 0.0) -> None:
    """Stop ``pool`` (its running jobs cancelled, waited for up to ``wait_s`` s) and remove ``store``'s
    folder; a job that has not stopped by then (in a step without a cancel check) may write again, so the
    folder is removed once more when it ends. Safe to call twice (the lifespan, then the command's exit)."""
    idle = pool.close(wait_s)
    store.close()
    if not idle:
        logger.info("a cancelled job is still running: its result folder is removed when it stops")
        pool.when_idle(store.close)


def _failure_detail(filename: str, exc: BaseException) -> str:
    """One line for a prediction that failed unexpectedly: the file, the error's type and first line."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    if len(first) > 300:
        first = first[:297] + "..."
    what = type(exc).__name__ + (f": {first}" if first else "")
    return f"prediction of {filename} failed ({what}); the server log has the details"


def _reblend(folder: Path, alpha: float, classes: Sequence[Mapping[str, Any]]) -> bytes:
    """overlay.png again from the stored input and mask with another colour weight (PNG bytes), in the
    colours of the model description's ``classes`` (``#rrggbb``, as the first overlay drew them), with the
    stored instances outlined again when the result has them (:func:`unetkit.viz.overlay.prediction_overlay`,
    the drawing of the first overlay and of ``unetkit predict``)."""
    from unetkit.viz.overlay import prediction_overlay, untinted_class

    palette = np.asarray(
        [[int(c["color"][i : i + 2], 16) for i in (1, 3, 5)] for c in classes], dtype=np.uint8
    ).reshape(-1, 3)

    with Image.open(folder / RESULT_FILES["input"]) as img:
        image = np.asarray(img)
    with Image.open(folder / RESULT_FILES["mask"]) as img:
        mask = np.asarray(img)
    labels = None
    if (folder / RESULT_FILES["instances"]).is_file():
        with Image.open(folder / RESULT_FILES["instances"]) as img:
            labels = np.asarray(img)
    background = untinted_class([str(c.get("name", "")) for c in classes])
    rgb = prediction_overlay(image, mask, palette, alpha, labels, background=background)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()
