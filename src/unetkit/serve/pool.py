"""A bounded pool of inference workers (threads or processes) behind an asyncio server.

Inference is CPU-bound, so it never runs on the event loop: each request's :func:`~unetkit.serve.jobs.run_job`
goes to one of ``workers`` threads or worker processes, and the event loop keeps answering health checks,
downloads and rejections meanwhile. At most ``workers + queue_size`` requests are admitted at once; the next
one is refused at once with 503 and a ``Retry-After`` estimate, so overload degrades into fast refusals
instead of a growing backlog of uploads in memory. Each admitted request waits at most ``timeout_s``
(504 afterwards). A request given up (504, the client gone, the server shutting down) cancels its job: a
waiting one never starts, a running one stops after its current batch of tiles (a thread cannot be killed,
so the job checks a cancel flag: :func:`~unetkit.serve.jobs.run_job`; a worker process reads it from
shared memory), its files are removed and its worker is free for the next request. A request that names a
``progress_key`` can be followed meanwhile (:meth:`WorkerPool.progress`: its stage, tiles done of the total),
from the same shared slot: a worker process writes it into shared memory too.

Threads (default) share one model and the process's torch intra-op thread pool; processes ("spawn", each
with its own model copy) isolate a crash (a killed worker is replaced and only its request fails). Either
way each prediction runs on ``threads_per_worker`` threads, whatever the engine
(:func:`unetkit.inference.backends.apply_threads`): an onnxruntime or OpenVINO session's own (the thread
pool's shared model gets one OpenVINO stream per worker, so the workers do not wait for each other), or
torch's during each pass, a U-Net's and a Mask R-CNN's alike (:func:`unetkit.devices.torch_threads`: the count
is put back after it; torch is imported only when the model runs on it).

Backend auto chooses its engine once, here, before any worker exists, and hands the choice to every worker:
no worker times the engines, also where the choice cannot be cached beside the model (a read-only folder).

Measured on the 2-core CPU with the ISBI architecture in eager PyTorch (``benchmarks/serve_load.py``,
``benchmarks/results/serve/load_prev.md``; shared machine): 2 threads x 1 torch thread used 203 ms of CPU per
request and 616 MiB, 2 processes x 1 thread 236 ms and 1048 MiB (two model and torch copies), 1 thread x 2
torch threads 456 ms (OpenMP threads spin while waiting for a busy core). Hence the CLI default: a thread
pool of 2 workers with one engine thread each. With OpenVINO INT8 (``load.md`` against
``load_before_threads.md``, one machine) one stream per worker raised throughput from 11.9 to 14.0
requests/s and cut p95 from 712 to 597 ms; a lone request went from 93 to 134 ms.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import functools
import inspect
import logging
import math
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from unetkit.devices import resolve_device, torch_threads
from unetkit.inference.signal_stack import keeping_signal_stack
from unetkit.options import look_up_option
from unetkit.serve.jobs import (
    STAGES,
    Job,
    JobCancelled,
    PredictorCache,
    ProgressReport,
    model_summary,
    reporting_to,
    run_job,
)
from unetkit.serve.limits import Rejected

logger = logging.getLogger(__name__)

POOL_KINDS = ("thread", "process")

# Worker processes only: their predictor cache and the pool's cancel flags and progress, set by _init_process.
_PROCESS_CACHE: PredictorCache | None = None
_PROCESS_FLAGS: Any = None
_PROCESS_PROGRESS: Any = None
# The progress array's ints per job slot: stage (index in STAGES), tiles done, tiles total.
_PROGRESS_FIELDS = 3

SHUTTING_DOWN = "the server is shutting down: the prediction was stopped; retry once it is back"
# Seconds a closing pool waits for its cancelled jobs to stop (they stop after their current batch of tiles).
SHUTDOWN_WAIT_S = 10.0


class _ScopedTorchThreads:
    """A Mask R-CNN detector whose every method call runs on ``num_threads`` torch threads
    (:func:`unetkit.devices.torch_threads`: the caller's count put back after it), as a U-Net predictor's
    forward passes do; its other attributes (``model``, ``min_area``) are the detector's own."""

    def __init__(self, detector: Any, num_threads: int) -> None:
        self._detector = detector
        self._num_threads = num_threads

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._detector, name)
        if not inspect.ismethod(value):
            return value

        @functools.wraps(value)
        def scoped(*args: Any, **kwargs: Any) -> Any:
            with torch_threads(self._num_threads):
                return value(*args, **kwargs)

        return scoped


def _block_stop_signals() -> None:
    """Initializer of the thread pool's workers: Ctrl-C and SIGTERM are delivered to another thread (the
    main thread, which runs Python's handlers anyway), never to a worker inside an inference engine, whose
    own signal stack (OpenVINO installs one per engine) may be gone by then."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def _scope_detector_threads(predictor: Any, num_threads: int) -> None:
    """``on_load`` of a Mask R-CNN's cache: its detector's passes run on ``num_threads`` torch threads."""
    predictor.detector = _ScopedTorchThreads(predictor.detector, num_threads)


def _predictor_cache(
    model: str, backend: str, backend_options: dict[str, Any], threads: int | None, concurrency: int = 1
) -> PredictorCache:
    """The predictors of a worker (the thread pool's one, shared by its ``concurrency`` threads, or a worker
    process's own), each prediction on ``threads`` threads, whatever the engine (None: its default)."""
    from unetkit.inference.instance_predictor import maskrcnn_model_dir

    if threads is not None and maskrcnn_model_dir(model) is not None:
        # A Mask R-CNN runs on torch, and its loader takes only the device: its detector's calls are scoped
        # to the count here (never the process's count for good: the thread pool shares this process).
        return PredictorCache(
            model, backend, backend_options, on_load=lambda p: _scope_detector_threads(p, threads)
        )
    # load_predictor applies the count to the engine that loads (backends.apply_threads): with backend auto
    # that is known only then, and torch is imported only when it is torch.
    options = {**backend_options, "concurrency": concurrency}
    if threads is not None:
        options["num_threads"] = threads
    return PredictorCache(model, backend, options)


def _init_process(
    model: str,
    backend: str,
    backend_options: dict[str, Any],
    threads: int | None,
    flags: Any = None,
    progress: Any = None,
) -> None:
    """Worker-process initializer: this process is the pool's own (its predictor cache, one job at a time;
    ``flags``: the pool's cancel flags in shared memory, one per job slot; ``progress``: the pool's progress
    array in shared memory, :data:`_PROGRESS_FIELDS` ints per slot)."""
    global _PROCESS_CACHE, _PROCESS_FLAGS, _PROCESS_PROGRESS
    _PROCESS_CACHE = _predictor_cache(model, backend, backend_options, threads)
    _PROCESS_FLAGS = flags
    _PROCESS_PROGRESS = progress


def _run_reporting(
    cache: PredictorCache, job: Job, cancelled: Callable[[], bool] | None, progress: ProgressReport | None
) -> dict[str, Any]:
    """:func:`~unetkit.serve.jobs.run_job` of ``job``, its progress going to ``progress`` (its slot's)."""
    with reporting_to(progress):
        return run_job(cache, job, cancelled)


def _slot_progress(progress: Any, slot: int) -> ProgressReport:
    """The ``progress`` of the job in ``slot``: writes its stage and tile counts into the pool's array (a
    list or shared memory), where :meth:`WorkerPool.progress` reads them."""
    base = slot * _PROGRESS_FIELDS

    def report(stage: str, done: int, total: int) -> None:
        # Three separate stores, not one atomic record (no lock shared with a worker process): a read may mix
        # two consecutive reports' counts, which a progress display can live with.
        progress[base + 2] = total
        progress[base + 1] = done
        progress[base] = STAGES.index(stage)

    return report


def _process_call(name: str, *args: Any) -> Any:
    if _PROCESS_CACHE is None:  # programming error: the initializer always runs first
        raise RuntimeError("worker process was not initialised")
    if name == "run":
        job, slot = args
        flags = _PROCESS_FLAGS
        cancelled = None if flags is None else lambda: bool(flags[slot])
        progress = None if _PROCESS_PROGRESS is None else _slot_progress(_PROCESS_PROGRESS, slot)
        return _run_reporting(_PROCESS_CACHE, job, cancelled, progress)
    return model_summary(_PROCESS_CACHE)


class WorkerPool:
    """Run segmentation jobs on ``workers`` threads or processes with a bounded admission queue.

    Args:
        model: anything ``unetkit predict`` accepts (run folder, model folder, ``.ckpt``, exported folder).
        backend: a name of :func:`unetkit.inference.backends.list_backends`.
        workers: jobs running at once.
        queue_size: admitted jobs waiting for a worker beyond the running ones.
        kind: "thread" or "process".
        threads_per_worker: inference threads of each worker's prediction, for every engine: an onnxruntime
            or OpenVINO session's, or torch's intra-op threads during each pass (a worker process's own, or,
            for kind "thread", this process's, shared by the worker threads: passing a count hands them to the
            pool);
            also the count backend auto times the engines with. None leaves each engine at its default.
        backend_options: extra keyword arguments of ``load_predictor`` (e.g. ``device``); ``device="auto"``
            is resolved here, once, by :func:`unetkit.devices.resolve_device` (the GPU when torch sees one,
            else the CPU), so every worker, thread or process, gets the same concrete device; backend auto's
            choice is added here as ``choice`` (:meth:`_choose_backend`).
    """

    def __init__(
        self,
        model: str | Path,
        backend: str = "torch",
        workers: int = 1,
        queue_size: int = 16,
        kind: str = "thread",
        threads_per_worker: int | None = None,
        backend_options: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, got {workers!r}.")
        if not isinstance(queue_size, int) or queue_size < 0:
            raise ValueError(f"queue_size must be an int >= 0, got {queue_size!r}.")
        self.kind = look_up_option(kind, POOL_KINDS, "worker pool kind")
        self.model = str(model)
        self.backend = backend
        self.workers = workers
        self.queue_size = queue_size
        self.threads_per_worker = threads_per_worker
        self.backend_options = dict(backend_options or {})
        if self.backend_options.get("device") == "auto":
            # Once, before any worker starts: every worker (a spawned process too) gets the same concrete
            # device, and backend auto sees "cpu" (on "auto" it would skip the exported engines for torch).
            self.backend_options["device"] = resolve_device("auto")
        self._choose_backend()  # before the workers' options are set: they get the choice
        # The thread pool's workers share its predictors (concurrency: OpenVINO gives each a stream).
        self._cache = _predictor_cache(self.model, backend, self.backend_options, threads_per_worker, workers)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when the last admitted job ends
        self._on_idle: list[Callable[[], None]] = []
        # One cancel flag per admitted job (every admitted job holds a slot until it ends): bytes this
        # process's threads read, or shared memory the worker processes read.
        self._flags: Any = (
            bytearray(self.capacity)
            if self.kind == "thread"
            else multiprocessing.get_context("spawn").RawArray("b", self.capacity)
        )
        # Stage and tile counts of each slot's job (_slot_progress), read by progress(progress_key).
        size = self.capacity * _PROGRESS_FIELDS
        self._progress: Any = (
            [0] * size if self.kind == "thread" else multiprocessing.get_context("spawn").RawArray("q", size)
        )
        self._free_slots = list(range(self.capacity))
        self._slot_owner: dict[int, object] = {}
        # progress_key -> (slot, admission time) of the admitted jobs whose request named one.
        self._keys: dict[str, tuple[int, float]] = {}
        self._slot_key: dict[int, str] = {}
        self._pending = 0
        self._avg_job_s: float | None = None
        self._served = 0
        self._refused = 0
        self._closing = False
        self._executor = self._new_executor()

    @property
    def capacity(self) -> int:
        """Requests admitted at once (running + waiting)."""
        return self.workers + self.queue_size

    def _new_executor(self) -> cf.Executor:
        if self.kind == "thread":
            return cf.ThreadPoolExecutor(
                self.workers, thread_name_prefix="unetkit-serve", initializer=_block_stop_signals
            )
        # spawn, not fork: forking a process that already runs torch and an event loop is unsafe.
        return cf.ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_process,
            initargs=self._process_initargs(),
        )

    def _process_initargs(self) -> tuple[str, str, dict[str, Any], int | None, Any, Any]:
        """What each worker process's :func:`_init_process` gets (backend auto's choice included)."""
        return (
            self.model,
            self.backend,
            self.backend_options,
            self.threads_per_worker,
            self._flags,
            self._progress,
        )

    def _submit(self, name: str, *args: Any) -> cf.Future[Any]:
        if self.kind == "thread":
            if name == "run":
                job, slot = args
                flags = self._flags
                progress = _slot_progress(self._progress, slot)
                return self._executor.submit(
                    _run_reporting, self._cache, job, lambda: bool(flags[slot]), progress
                )
            return self._executor.submit(model_summary, self._cache)
        return self._executor.submit(_process_call, name, *args)

    def _cancel(self, slot: int, owner: object) -> None:
        """Set the cancel flag of ``slot`` if the job of ``owner`` still holds it (not yet ended)."""
        with self._lock:
            if self._slot_owner.get(slot) is owner:
                self._flags[slot] = 1

    def start(self) -> dict[str, Any]:
        """Load the model in every worker (so the first request is not slow, and a bad MODEL fails here);
        returns the model summary of ``GET /api/model``."""
        # One call per worker at once: a process pool starts one process per waiting call.
        futures = [self._submit("describe") for _ in range(self.workers if self.kind == "process" else 1)]
        results = [f.result() for f in futures]  # wait for every worker, not only the first
        return results[0]

    def _choose_backend(self) -> None:
        """Backend auto's choice, made here once before any worker exists, and handed to the workers.

        Without a cached choice, auto times the engines (:mod:`unetkit.inference.auto_backend`). Done here,
        in this process, it runs once, alone on the CPU, with every engine at the workers' threads (torch's
        put back afterwards). The choice goes to every worker, thread or process, as the loader's ``choice``:
        no worker times anything, also where it cannot be cached beside the model (a read-only folder), and
        each predictor carries it, so ``GET /api/model`` names the engine. Timing imports torch here (the
        eager reference), as it would in a worker; a cached choice, a GPU or no export imports nothing.
        Only a cached choice that no longer loads (its package removed) is measured again, by the worker
        that finds it so.
        """
        from unetkit.inference.instance_predictor import maskrcnn_model_dir

        if self.backend != "auto" or maskrcnn_model_dir(self.model) is not None:
            return  # a Mask R-CNN runs on torch: nothing to choose
        from unetkit.inference.auto_backend import choose_for

        device = str(self.backend_options.get("device", "cpu"))
        amp = bool(self.backend_options.get("amp", False))
        # choose() keeps the main thread's signal stack itself (OpenVINO's timed engines leave it dangling);
        # the whole choice is kept here too, as tests/serve/test_s26_shutdown.py checks with a stubbed one:
        # the server's Ctrl-C and SIGTERM are handled on that stack.
        with keeping_signal_stack():
            choice = choose_for(self.model, device, amp, num_threads=self.threads_per_worker)
        # A choice without an export folder (none there, a GPU, amp) is eager PyTorch by rule: a worker finds
        # it again without timing.
        if choice.export_dir is not None:
            self.backend_options["choice"] = choice

    def retry_after_s(self) -> int:
        """Seconds a refused client should wait: the work ahead of it divided over the workers."""
        with self._lock:
            per_job = self._avg_job_s if self._avg_job_s is not None else 1.0
            ahead = max(self._pending - self.workers + 1, 1)
        return max(1, math.ceil(per_job * ahead / self.workers))

    async def run(
        self,
        job: Job,
        timeout_s: float,
        on_abandon: Callable[[], None] | None = None,
        progress_key: str | None = None,
    ) -> dict[str, Any]:
        """Run ``job`` in the pool; returns its summary. With ``progress_key``, :meth:`progress` tells how far
        the job is until it ends.

        Raises:
            Rejected: 503 (+ ``Retry-After``) when ``capacity`` requests are already admitted, or when
                :meth:`close` stopped the job; 504 after ``timeout_s`` (the job is cancelled); 500 when a
                worker process died (the pool is replaced); 409 when ``progress_key`` is already used by an
                admitted job.
            JobError: the job refused the upload (from :func:`run_job`).
        """
        owner = object()
        with self._lock:
            if self._closing:  # stop_jobs() would not see a job admitted from now on
                raise Rejected(503, SHUTTING_DOWN)
            if progress_key is not None and progress_key in self._keys:
                # Two requests under one key would show each other's progress.
                raise Rejected(
                    409,
                    f"progress_id {progress_key[:40]} is already used by a running request; send a new "
                    "random one with each request",
                )
            full = self._pending >= self.capacity
            if full:
                self._refused += 1
            else:
                self._pending += 1
                slot = self._free_slots.pop()
                self._flags[slot] = 0
                self._slot_owner[slot] = owner
                base = slot * _PROGRESS_FIELDS
                self._progress[base : base + _PROGRESS_FIELDS] = [0] * _PROGRESS_FIELDS  # "queued"
                if progress_key is not None:
                    self._keys[progress_key] = (slot, time.perf_counter())
                    self._slot_key[slot] = progress_key
        if full:
            wait = self.retry_after_s()
            raise Rejected(
                503,
                f"server busy: {self.capacity} requests already admitted ({self.workers} running, queue of "
                f"{self.queue_size} full); retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        abandoned = threading.Event()
        started = time.perf_counter()

        def finished(future: cf.Future[Any]) -> None:
            # Clean up first, then free the slot: once a request is no longer counted, its files are gone.
            if abandoned.is_set() and on_abandon is not None:
                on_abandon()
            with self._lock:
                if not future.cancelled() and future.exception() is None:
                    elapsed = time.perf_counter() - started
                    self._served += 1
                    # Exponential average (queue wait included): the Retry-After estimate follows the load.
                    self._avg_job_s = (
                        elapsed if self._avg_job_s is None else 0.8 * self._avg_job_s + 0.2 * elapsed
                    )
            self._release(slot)

        try:
            future = self._submit("run", job, slot)
        except BrokenProcessPool:
            self._release(slot)
            self._replace_executor()
            raise Rejected(
                500, "a worker process had died; the pool was restarted, retry the request"
            ) from None
        future.add_done_callback(finished)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except (TimeoutError, asyncio.TimeoutError):
            abandoned.set()
            # A waiting job was dropped with the timeout (wait_for cancels it); a running one stops after
            # its current batch of tiles, then frees its worker.
            self._cancel(slot, owner)
            if future.done() and on_abandon is not None:
                on_abandon()
            logger.warning(
                "%s: no result within --timeout %g s: its job is cancelled", job.filename, timeout_s
            )
            raise Rejected(
                504, f"prediction did not finish within {timeout_s:g} s (server option --timeout)"
            ) from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if future.cancelled() and task is not None and not task.cancelling():
                # Not this request's task: the pool dropped the waiting job (close()) while its client waits.
                raise Rejected(503, SHUTTING_DOWN) from None
            # The request was given up (the client went away, the server's shutdown): nobody will fetch it.
            abandoned.set()
            self._cancel(slot, owner)
            raise
        except JobCancelled:  # stop_jobs() or close() stopped it while its client still waited
            raise Rejected(503, SHUTTING_DOWN) from None
        except BrokenProcessPool:
            self._replace_executor()
            raise Rejected(
                500, "the worker process died (out of memory?); the pool was restarted, retry the request"
            ) from None

    def _release(self, slot: int) -> None:
        """A job ended (or never started): free its slot; the last one out runs the idle callbacks."""
        with self._lock:
            self._pending -= 1
            self._flags[slot] = 0
            self._slot_owner.pop(slot, None)
            key = self._slot_key.pop(slot, None)
            if key is not None:
                self._keys.pop(key, None)
            self._free_slots.append(slot)
            callbacks, idle = [], self._pending == 0
            if idle:
                callbacks, self._on_idle = self._on_idle, []
        for callback in callbacks:
            callback()
        if idle:  # after the callbacks: close() returns once they have cleaned up
            with self._lock:
                self._idle.notify_all()

    def when_idle(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once no admitted job is left: now, or when the last one ends (in its worker's
        thread)."""
        with self._lock:
            if self._pending > 0:
                self._on_idle.append(callback)
                return
        callback()

    def _replace_executor(self) -> None:
        with self._lock:
            old = self._executor
            self._executor = self._new_executor()
        old.shutdown(wait=False, cancel_futures=True)
        logger.warning("worker pool restarted after a worker process died")

    def stats(self) -> dict[str, Any]:
        """Queue state for ``/api/health``."""
        with self._lock:
            return {
                "kind": self.kind,
                "workers": self.workers,
                "running": min(self._pending, self.workers),
                "waiting": max(self._pending - self.workers, 0),
                "capacity": self.capacity,
                "served": self._served,
                "refused": self._refused,
                "avg_request_s": None if self._avg_job_s is None else round(self._avg_job_s, 4),
            }

    def progress(self, progress_key: str) -> dict[str, Any] | None:
        """How far the admitted job of ``progress_key`` is (``GET /api/progress``), None when no admitted
        job has that key (not arrived yet, or ended): ``stage`` (one of
        :data:`~unetkit.serve.jobs.STAGES`), ``tiles_done`` and ``tiles_total`` (forward passes over all TTA
        views; total None until predicting begins, and for a model that does not tile) and ``elapsed_s``
        since admission."""
        with self._lock:
            found = self._keys.get(progress_key)
            if found is None:
                return None
            slot, admitted = found
            base = slot * _PROGRESS_FIELDS
            stage, done, total = (int(v) for v in self._progress[base : base + _PROGRESS_FIELDS])
        return {
            "stage": STAGES[stage],
            "tiles_done": done,
            "tiles_total": total or None,
            "elapsed_s": round(time.perf_counter() - admitted, 3),
        }

    @property
    def closing(self) -> bool:
        """True once :meth:`stop_jobs` or :meth:`close` ran: the server is stopping."""
        return self._closing

    def stop_jobs(self) -> None:
        """The server is stopping (Ctrl-C, SIGTERM): refuse new jobs (503) and cancel every admitted one, so
        that running jobs stop after their current batch of tiles and waiting ones as they start, each
        answering its client with a 503 instead of holding the shutdown until ``--timeout``."""
        with self._lock:
            self._closing = True
            for slot in self._slot_owner:
                self._flags[slot] = 1

    def close(self, wait_s: float = 0.0) -> bool:
        """Stop the workers: waiting jobs are dropped, running ones cancelled (they stop after their current
        batch of tiles); waits up to ``wait_s`` seconds for them. Returns True when no job is left."""
        self.stop_jobs()
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=wait_s)
