"""A simulated GPU for the distributed tests: tests/gpu/fake_cupy.py plus a stand-in for
``cupy.cuda.nccl``, written from CuPy's signatures (``NcclCommunicator(ndev, uid, rank)``,
``allReduce(send, recv, count, type, op, stream)``, ``bcast(buf, count, type, root, stream)``,
``allGather(send, recv, count, type, stream)``, device pointers as ints).

The stand-in checks each call's arguments and logs it, and moves the bytes behind the given
pointers as NCCL would: on one process by copying, on several by MPI (a test double only: the
package itself never sends GPU buffers through MPI). Every rank of the stand-in checks that all
ranks joined with the same unique id, the one rank 0 drew.
"""

import contextlib
import ctypes
import sys
import types
from pathlib import Path

import numpy as np

GPU_TESTS = Path(__file__).resolve().parents[1] / "gpu"

# NCCL's ncclDataType_t values, and the NumPy type of each.
TYPES = {"NCCL_INT8": 0, "NCCL_UINT8": 1, "NCCL_INT32": 2, "NCCL_UINT32": 3, "NCCL_INT64": 4,
         "NCCL_UINT64": 5, "NCCL_FLOAT16": 6, "NCCL_FLOAT32": 7, "NCCL_FLOAT64": 8}
DTYPES = {0: np.int8, 1: np.uint8, 2: np.int32, 3: np.uint32, 4: np.int64, 5: np.uint64,
          6: np.float16, 7: np.float32, 8: np.float64}
calls: list = []


def _memory(ptr, count, datatype):
    """The ``count`` items of type ``datatype`` at address ``ptr``, as a NumPy array (a view)."""
    dtype = np.dtype(DTYPES[datatype])
    raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(raw, dtype=dtype)


class SimulatedNccl:
    """``NcclCommunicator`` over MPI's ``comm`` (None: one process)."""

    comm = None

    def __init__(self, ndev, uid, rank):
        size = 1 if self.comm is None else self.comm.Get_size()
        me = 0 if self.comm is None else self.comm.Get_rank()
        assert (ndev, rank) == (size, me), (ndev, rank, size, me)
        assert isinstance(uid, tuple) and len(uid) == 128
        if self.comm is not None:
            ids = self.comm.allgather(uid)
            assert all(i == ids[0] for i in ids), "the ranks joined with different unique ids"
        self.aborted = False

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):  # noqa: N802
        assert op == 0 and isinstance(stream, int)
        calls.append(("allReduce", count, datatype))
        out = _memory(recvbuf, count, datatype)
        if sendbuf != recvbuf:
            out[...] = _memory(sendbuf, count, datatype)
        if self.comm is not None:
            from mpi4py import MPI

            self.comm.Allreduce(MPI.IN_PLACE, out, op=MPI.SUM)

    def bcast(self, buff, count, datatype, root, stream):
        assert isinstance(stream, int)
        calls.append(("bcast", count, datatype))
        if self.comm is not None:
            self.comm.Bcast(_memory(buff, count, datatype), root=root)

    def allGather(self, sendbuf, recvbuf, count, datatype, stream):  # noqa: N802
        calls.append(("allGather", count, datatype))
        size = 1 if self.comm is None else self.comm.Get_size()
        part = _memory(sendbuf, count, datatype)
        out = _memory(recvbuf, count * size, datatype)
        if self.comm is None:
            out[...] = part
        else:
            self.comm.Allgather(part.copy(), out)

    def abort(self):
        self.aborted = True


@contextlib.contextmanager
def simulated_gpu(comm=None):
    """fake_cupy installed, with ``.data.ptr``, streams, events and the NCCL stand-in; yields
    (the fake ``cupy``, its log of transfers to the host)."""
    sys.path.insert(0, str(GPU_TESTS))
    try:
        import fake_cupy
    finally:
        sys.path.remove(str(GPU_TESTS))
    with fake_cupy.installed() as cp:
        stream = types.SimpleNamespace(ptr=0, record=lambda: types.SimpleNamespace(done=True),
                                       synchronize=lambda: None)
        SimulatedNccl.comm = comm
        salt = 1 + 31 * (0 if comm is None else comm.Get_rank())  # each rank draws its own
        cp.cuda.nccl = types.SimpleNamespace(
            get_unique_id=lambda: tuple((salt + k) % 128 for k in range(128)),
            NcclCommunicator=SimulatedNccl, NCCL_SUM=0, **TYPES)
        cp.cuda.get_current_stream = lambda: stream
        fake_cupy.ndarray.data = property(
            lambda a: types.SimpleNamespace(ptr=a._a.__array_interface__["data"][0]))
        calls.clear()
        try:
            yield cp, fake_cupy.LOG
        finally:
            del fake_cupy.ndarray.data
            SimulatedNccl.comm = None
