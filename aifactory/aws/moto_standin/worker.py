"""moto in a process of its own for one plan.

`MotoWorker(region)` starts `python -m aifactory.aws.moto_standin.worker REGION`: a fresh process with an
empty moto account, holding the same `Backend` an in-process plan would. The plan engine calls it
like a `Backend` (`can_create`, `create`, `caller_identity`, `availability_zones`); each call is one
framed pickle over the child's stdin, answered on its stdout. The SDK's threads send their requests
without waiting for each other; the worker answers them one at a time, in order.

Why a process: most of what moto costs a plan is its start (importing each service's model and
building its backend, seconds for EC2), and the Pulumi program's own start costs as much again. In
a worker the two run side by side on two cores, and the worker builds each service's backend
(`WARM_UP`) while it waits for the first requests. moto's patching of botocore also stays out of
the planning process. Each plan gets a new worker, so no plan sees another's resources.
"""

from __future__ import annotations

import functools
import itertools
import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from concurrent.futures import Future

from aifactory.core.batch_gc import fewer_collections
from aifactory.aws.moto_standin.backend import (ACCOUNT_ID, HANDLERS, WARM_UP, AwsRejected, Backend, StandInFailed, client_factory,
                                            in_process_moto)

_HEADER = struct.Struct(">I")
# What the engine may ask; the exceptions a handler raises for bad inputs travel back as themselves.
METHODS = ("create", "caller_identity", "availability_zones")
INPUT_ERRORS = (AwsRejected, KeyError, TypeError, ValueError)


class WorkerFailed(StandInFailed):
    """The worker process exited or failed outside a handler's own checks."""


def write_frame(fd: int, value) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def read_frame(fd: int):
    """The next value on `fd`; EOFError when the other side has closed it."""
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size))
    return pickle.loads(_read_exactly(fd, size))


def _read_exactly(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class MotoWorker:
    """The parent's side: a `Backend` whose calls run in the worker process. Use it as a context manager."""

    label = "moto (worker process)"
    account_id = ACCOUNT_ID  # the worker's moto is the plan's alone

    def __init__(self, region: str):
        self.region = region
        self._lock = threading.Lock()  # guards the request ids, the waiting calls and the pipe's writes
        self._ids = itertools.count()
        self._waiting: dict[int, Future] = {}
        self._exited = False
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen([sys.executable, "-m", "aifactory.aws.moto_standin.worker", region], bufsize=0,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        self._reader = threading.Thread(target=self._read_replies, name="moto-worker-replies", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def can_create(self, resource_type: str) -> bool:
        return resource_type in HANDLERS

    def create(self, resource_type: str, logical: str, inputs: dict) -> tuple[str, dict]:
        return self._call("create", resource_type, logical, inputs)

    def caller_identity(self) -> dict:
        return self._call("caller_identity")

    def availability_zones(self) -> list[dict]:
        return self._call("availability_zones")

    def site(self, region: str, account_id: str) -> WorkerSite:
        """This worker's moto as another plan sees it: `region`, in an account of its own."""
        return WorkerSite(self, region, account_id)

    def _call(self, method: str, *args, where: tuple[str, str] | None = None):
        reply: Future = Future()
        with self._lock:
            request_id, sent = next(self._ids), not self._exited
            if sent:
                self._waiting[request_id] = reply
                try:
                    write_frame(self._proc.stdin.fileno(), (request_id, method, args, where or (self.region, ACCOUNT_ID)))
                except BrokenPipeError:
                    del self._waiting[request_id]
                    self._exited, sent = True, False
        kind, value = reply.result() if sent else ("exited", None)  # the reader fails it if the worker exits
        if kind == "raise":
            raise value
        if kind == "crash":
            raise WorkerFailed(f"the moto worker failed in {method}: {value}")
        if kind == "exited":
            raise WorkerFailed(f"the moto worker exited ({self._exit_reason()})")
        return value

    def _read_replies(self) -> None:
        """Hand each reply to the call waiting for it; when the worker exits, fail those still waiting."""
        try:
            while True:
                request_id, kind, value = read_frame(self._proc.stdout.fileno())
                with self._lock:
                    reply = self._waiting.pop(request_id)
                reply.set_result((kind, value))
        except Exception:  # EOF, a closed pipe or an unreadable reply: the worker is gone for this plan
            with self._lock:
                self._exited = True
                waiting, self._waiting = list(self._waiting.values()), {}
            for reply in waiting:
                reply.set_result(("exited", None))

    def _exit_reason(self) -> str:
        try:
            rc = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = "still running"
        self._stderr.seek(0)
        tail = self._stderr.read().decode(errors="replace").strip().splitlines()[-3:]
        return f"exit status {rc}" + (": " + " / ".join(tail) if tail else "")

    def close(self, promptly: bool = False) -> None:
        """End the worker (it exits when its stdin closes) and wait for it; `promptly` (Ctrl-C, SIGTERM) kills
        it instead: a worker still setting moto up reads its stdin only when done, which can take seconds."""
        if self._proc.stdin:
            self._proc.stdin.close()
        if promptly:
            self._proc.kill()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=30)
        self._proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> MotoWorker:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(promptly=exc_type is not None and not issubclass(exc_type, Exception))


class WorkerSite:
    """One plan's view of a shared moto worker (several sites planned in one run): its own region and
    moto account, so no site sees another's resources, and moto's start is paid once."""

    label = MotoWorker.label

    def __init__(self, worker: MotoWorker, region: str, account_id: str):
        self.worker, self.region, self.account_id = worker, region, account_id

    def can_create(self, resource_type: str) -> bool:
        return resource_type in HANDLERS

    def create(self, resource_type: str, logical: str, inputs: dict) -> tuple[str, dict]:
        return self.worker._call("create", resource_type, logical, inputs, where=(self.region, self.account_id))

    def caller_identity(self) -> dict:
        return self.worker._call("caller_identity", where=(self.region, self.account_id))

    def availability_zones(self) -> list[dict]:
        return self.worker._call("availability_zones", where=(self.region, self.account_id))


# --- the worker's side ---------------------------------------------------------------------------
def share_botocore_loader() -> None:
    """Let every botocore session in this process share one model loader and its cache.

    While it sets up EC2, moto makes several new boto3 sessions (to list regions), and each would
    parse EC2's multi-megabyte service model again: most of EC2's start-up. This process runs only
    moto and the plan's clients, so one shared, read-only model cache is safe here.
    """
    import botocore.loaders
    import botocore.session

    botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)


def _answer(backend: Backend, method: str, args: tuple) -> tuple[str, object]:
    if method not in METHODS:
        return "crash", f"unknown request {method!r}"
    try:
        return "ok", getattr(backend, method)(*args)
    except INPUT_ERRORS as err:
        return "raise", err
    except Exception:  # moto's own failure: reported to the plan, the worker goes on
        return "crash", traceback.format_exc(limit=3)


def serve(region: str, requests: int, replies: int) -> None:
    """Answer requests until the parent closes `requests`; build services' backends while idle."""
    share_botocore_loader()
    with in_process_moto(), fewer_collections():
        backend = Backend(client_factory(None), region)
        backends = {(region, ACCOUNT_ID): backend}  # one per (region, account) a plan asks for
        to_warm = list(WARM_UP)
        while True:
            if to_warm and not select.select([requests], [], [], 0)[0]:
                service = to_warm.pop(0)
                try:
                    backend.warm_up(service)
                except Exception as err:  # only a head start lost: the first real call builds it
                    print(f"moto worker: warming {service} failed: {err}", file=sys.stderr)
                continue
            try:
                request_id, method, args, where = read_frame(requests)
            except EOFError:
                return
            if where not in backends:
                backends[where] = Backend(client_factory(None, where[1]), *where)
            kind, value = _answer(backends[where], method, args)
            try:
                write_frame(replies, (request_id, kind, value))
            except (pickle.PicklingError, TypeError, AttributeError):  # an exception that does not pickle
                write_frame(replies, (request_id, "crash", repr(value)))


def main() -> None:
    replies = os.dup(1)
    os.dup2(2, 1)  # a stray print must not corrupt the replies
    serve(sys.argv[1], 0, replies)
    sys.stderr.flush()
    # Nothing of this process outlives the plan: skip moto's teardown and the interpreter's, which
    # free every backend one object at a time (about a second the plan would wait for).
    os._exit(0)


if __name__ == "__main__":
    main()
