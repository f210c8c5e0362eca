"""Data-parallel training on several processes and machines: MPI through mpi4py, NCCL on GPUs.

Launch the same script on N processes (``mpirun -n N python train.py``); each process is a
*rank*. Every rank builds the same model, ``DataParallel`` (or ``broadcast``) makes rank 0's
values everyone's, ``shard`` gives each rank its part of every global batch, and the gradients
are averaged over the ranks before each update (``allreduce_grads``: one packed buffer per dtype
per step, through MPI for NumPy arrays and NCCL for CuPy arrays). Without ``mpirun`` the
process is rank 0 of 1 and everything works as on one process. See docs/scaling-out.md.

Example:
    >>> import numpy as np, minitorch_ag as ag
    >>> from minitorch_ag import distributed as dist
    >>> from minitorch_ag.datasets import minibatch
    >>> from minitorch_ag.optim import SGD
    >>> w = ag.Param(np.zeros(2))
    >>> x = np.random.default_rng(0).normal(size=(8, 2))
    >>> dp = dist.DataParallel(w, SGD(lr=0.1))                 # rank 0's w on every rank
    >>> batches = dist.shard(minibatch(x, None, 4, shuffle=True, rng=1))
    >>> losses = list(dp.minimize(lambda xb: np.mean((xb - w) ** 2), batches))
    >>> len(losses), dist.size()
    (2, 1)

This package imports ``mpi4py`` only when ``init()`` runs (on the first call of any of its
functions) and CuPy's NCCL bindings only for GPU arrays.
"""

from ._collectives import allreduce_grads, broadcast
from ._parallel import DataParallel, Shard, log, progress, root_logging, save, shard
from ._world import World, barrier, init, is_root, local_rank, rank, size, world

__all__ = [
    "init", "rank", "size", "local_rank", "is_root", "barrier", "world", "World",
    "broadcast", "allreduce_grads",
    "DataParallel", "shard", "Shard",
    "progress", "log", "root_logging", "save",
]
