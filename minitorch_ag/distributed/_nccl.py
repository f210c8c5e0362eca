"""Collectives on GPU (CuPy) buffers through NCCL, CuPy's ``cupy.cuda.nccl`` bindings.

MPI only sets the NCCL communicator up: rank 0 draws NCCL's unique id and broadcasts it over
MPI, then every rank joins with ``NcclCommunicator(size, id, rank)`` on its GPU. The data then
move GPU to GPU through NCCL; CUDA-aware MPI is not needed. Each collective is queued on the
current CuPy stream (so it runs after the kernels that computed the gradients) and waited for
by polling an event with the world's timeout: on a timeout the NCCL communicator is aborted
(which ends the kernels stuck waiting for a dead peer) before the job is.

CuPy is reached through the array module of the buffers (``backend.array_module``), so this
file imports nothing GPU-related itself and is never imported on a CPU-only run.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from ._world import World

__all__ = ["Nccl", "nccl_for"]


class Nccl:
    """The NCCL communicator of this process, on GPU ``device_id``."""

    def __init__(self, world: World, cupy: ModuleType, device_id: int) -> None:
        nccl = _nccl_module(cupy)
        uid = nccl.get_unique_id() if world.rank == 0 else None
        if world.size > 1:
            uid = world.bcast_object(uid, 0, "NCCL setup (broadcast of the unique id)")
        with cupy.cuda.Device(device_id):
            self.comm = nccl.NcclCommunicator(world.size, uid, world.rank)
        self.world = world
        self.cupy = cupy
        self.nccl = nccl
        self.device_id = device_id
        self.types = {
            "float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32,
            "float64": nccl.NCCL_FLOAT64, "int32": nccl.NCCL_INT32,
            "int64": nccl.NCCL_INT64, "uint8": nccl.NCCL_UINT8,
        }

    def _type(self, buf: Any, what: str) -> int:
        code = self.types.get(buf.dtype.name)
        if code is None:
            raise TypeError(f"{what}: NCCL has no type for dtype {buf.dtype}")
        if buf.device.id != self.device_id:
            raise ValueError(
                f"{what}: this rank's NCCL communicator is on gpu:{self.device_id} but the "
                f"array is on gpu:{buf.device.id}; one process drives one GPU (pick "
                f"'gpu:' + str(dist.local_rank()) for every array of a rank)"
            )
        if not buf.flags.c_contiguous:
            raise ValueError(f"{what}: NCCL needs a contiguous buffer")
        return code

    def _finish(self, what: str) -> None:
        """Wait, with the world's timeout, for the collective just queued on the stream.

        The host polls an event recorded after it (``World.wait``): NCCL moves the data on the
        GPUs by itself, so polling costs it nothing; on a timeout the NCCL communicator is
        aborted (which ends kernels stuck waiting for a dead peer) before the job is.
        """
        event = self.cupy.cuda.get_current_stream().record()
        self.world.wait(lambda: event.done, what, self.comm.abort)
        check = getattr(self.comm, "check_async_error", None)
        if check is not None:
            check()

    # Each call runs with this communicator's GPU current: the stream it is queued on must be
    # that GPU's (the current device may be another, e.g. after ag.to_device(x, "gpu:1")).

    def allreduce_(self, buf: Any, what: str) -> Any:
        """Sum ``buf`` over the ranks, in place."""
        code = self._type(buf, what)
        with self.cupy.cuda.Device(self.device_id):
            stream = self.cupy.cuda.get_current_stream()
            self.world.collectives += 1
            self.world.nbytes += buf.nbytes
            self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, code,
                                self.nccl.NCCL_SUM, stream.ptr)
            self._finish(what)
        return buf

    def bcast_(self, buf: Any, root: int, what: str) -> Any:
        """Overwrite ``buf`` on every rank with root's ``buf``."""
        code = self._type(buf, what)
        with self.cupy.cuda.Device(self.device_id):
            stream = self.cupy.cuda.get_current_stream()
            self.world.collectives += 1
            self.world.nbytes += buf.nbytes
            self.comm.bcast(buf.data.ptr, buf.size, code, root, stream.ptr)
            self._finish(what)
        return buf

    def allgatherv(self, part: Any, counts: list[int], what: str) -> Any:
        """The concatenation over ranks of each rank's ``part`` (``counts[r]`` rows from rank
        r). NCCL gathers equal sizes, so each part is padded to the largest count and the
        padding is cut out afterwards."""
        cp = self.cupy
        most = max(counts)
        with cp.cuda.Device(self.device_id):
            if most == 0:  # no rank has a row: nothing to send
                return cp.zeros((0, *part.shape[1:]), dtype=part.dtype)
            padded = cp.zeros((most, *part.shape[1:]), dtype=part.dtype)
            padded[: len(part)] = part
            out = cp.empty((self.world.size * most, *part.shape[1:]), dtype=part.dtype)
            code = self._type(padded, what)
            stream = cp.cuda.get_current_stream()
            self.world.collectives += 1
            self.world.nbytes += padded.nbytes
            self.comm.allGather(padded.data.ptr, out.data.ptr, padded.size, code, stream.ptr)
            self._finish(what)
            return cp.concatenate([out[r * most: r * most + c] for r, c in enumerate(counts)])


def _nccl_module(cupy: ModuleType) -> ModuleType:
    """CuPy's NCCL bindings (``cupy.cuda.nccl``), or a clear error when this CuPy has none."""
    found = getattr(cupy.cuda, "nccl", None)
    if found is not None:
        return found
    try:
        return importlib.import_module(f"{cupy.__name__}.cuda.nccl")
    except ImportError as e:
        raise RuntimeError(
            f"minitorch_ag.distributed: GPU arrays are averaged through NCCL, but this CuPy has "
            f"no NCCL bindings ({e}); install NCCL for CuPy (e.g. pip install nvidia-nccl-cu12, "
            f"or conda install nccl), or move the model to the CPU"
        ) from e


def nccl_for(world: World, cupy: ModuleType, device_id: int) -> Nccl:
    """The process's NCCL communicator, made (collectively, on every rank) the first time."""
    if world.nccl is None:
        world.nccl = Nccl(world, cupy, device_id)
    return world.nccl
