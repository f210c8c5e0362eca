"""The program test_distributed.py runs under ``mpirun -n 2``: ``_worker.py SCENARIO OUTDIR``.

Scenarios:
    train  30 steps of SGD and of Adam through DataParallel on sharded batches (rank 1 starts
           from a different initialisation, which broadcast must overwrite); rank r writes its
           parameters and losses to OUTDIR/train_r.npz; then the checks of the collectives
           (layouts refused, None and Sparse gradients, fusion, sharding, checkpoints), whose
           results rank r writes to OUTDIR/checks_r.json
    gpu    the SGD and Adam runs of ``train`` on the simulated GPU of _simgpu.py (NCCL's calls
           carried by MPI), writing OUTDIR/gpu_r.npz: the GPU path with two ranks
    kill   rank 1 kills itself (SIGKILL) at step 5 of training; rank 0 carries on
    raise  rank 1 raises at step 5
    hang   rank 1 stops answering (sleeps) at step 5
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _model  # noqa: E402

import minitorch_ag as ag  # noqa: E402
from minitorch_ag import distributed as dist  # noqa: E402
from minitorch_ag.optim import SGD, Adam, epochs, take  # noqa: E402
from minitorch_ag.sparse import Sparse  # noqa: E402


def train(opt, fault=None, device="cpu"):
    model = ag.to_device(_model.Net(seed=1 + dist.rank()), device)  # rank 1's differs at first
    dp = dist.DataParallel(model, opt)
    losses = []
    steps = take(epochs(dist.shard(_model.batches(device))), _model.STEPS)
    for step, loss in enumerate(dp.minimize(lambda xb, yb: _model.loss(model, xb, yb), steps)):
        losses.append(loss)
        if fault and step == 5 and dist.rank() == 1:
            if fault == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if fault == "raise":
                raise RuntimeError("rank 1 fails on purpose at step 5")
            if fault == "hang":
                time.sleep(600)
    return model, losses


def checks(out):
    r, n = dist.rank(), dist.size()
    got = {"rank": r, "size": n, "local_rank": dist.local_rank(), "is_root": dist.is_root()}

    # broadcast refuses a different model, on every rank, naming the first difference
    for name, model in [("hidden", _model.Net(0, hidden=8 if r == 0 else 5)),
                        ("count", [ag.Param(np.zeros(2))] * (1 + r) if r else
                         [ag.Param(np.zeros(2)), ag.Param(np.zeros(3))])]:
        try:
            dist.broadcast(model)
            got[f"refused_{name}"] = None
        except ValueError as e:
            got[f"refused_{name}"] = str(e)

    # allreduce_grads: the mean over ranks, in place; numbers, float32, None, fusion off
    g = [np.full((2, 3), r + 1.0), np.full(4, 10.0 * r, np.float32), float(r), None]
    same = dist.allreduce_grads(g)
    got["mean"] = [g[0].tolist(), g[1].tolist(), g[2], g[3]]
    got["mean_types"] = [type(x).__name__ + ":" + str(getattr(x, "dtype", "")) for x in g]
    got["same_list"] = same is g
    g2 = [np.full((2, 3), r + 1.0), np.full(4, 10.0 * r, np.float32)]
    dist.allreduce_grads(g2, fuse=False)
    got["unfused"] = [g2[0].tolist(), g2[1].tolist()]

    # a None on one rank only: zeros from that rank with params=, refused without
    ps = [ag.Param(np.zeros(3)), ag.Param(np.zeros(2))]
    g3 = [np.ones(3) * (r + 1), None if r == 1 else np.ones(2)]
    dist.allreduce_grads(g3, params=ps)
    got["none_one_rank"] = [g3[0].tolist(), g3[1].tolist()]
    try:
        dist.allreduce_grads([np.ones(3), None if r == 1 else np.ones(2)])
        got["none_refused"] = None
    except ValueError as e:
        got["none_refused"] = str(e)
    try:
        dist.allreduce_grads([np.ones(3 + r)])
        got["shape_refused"] = None
    except ValueError as e:
        got["shape_refused"] = str(e)

    # Sparse rows stay sparse when few; the result is every rank's rows over size
    table = np.zeros((100, 2))
    sp = Sparse(table.shape, np.array([r, 7, r]), np.arange(6.0).reshape(3, 2) + r)
    dense_mean = (sum(Sparse(table.shape, np.array([k, 7, k]),
                             np.arange(6.0).reshape(3, 2) + k).to_dense() for k in range(n)) / n)
    g4 = dist.allreduce_grads([sp])
    got["sparse_kept"] = isinstance(g4[0], Sparse)
    got["sparse_rows"] = int(len(g4[0].indices)) if isinstance(g4[0], Sparse) else None
    got["sparse_ok"] = bool(np.allclose(np.asarray(g4[0]), dense_mean))
    # many rows on a small table: densified and summed
    small = Sparse((3, 2), np.array([0, 1, 2, 0]), np.ones((4, 2)) * (r + 1))
    g5 = dist.allreduce_grads([small])
    got["densified"] = not isinstance(g5[0], Sparse)
    got["densified_value"] = np.asarray(g5[0]).tolist()
    # Sparse on one rank, None on the other (params given)
    emb = ag.Param(np.zeros((100, 2)))
    g6 = dist.allreduce_grads([sp if r == 0 else None], params=[emb])
    got["sparse_one_rank"] = np.asarray(g6[0])[[0, 7]].tolist()

    # sharding: disjoint parts of the same global batches, covering each batch
    ids = np.arange(40.0)
    mb = ag.datasets.minibatch(ids, None, 10, shuffle=True, rng=100 + r)  # seeds differ
    parts = [xb.tolist() for xb in dist.shard(mb)]
    got["shard"] = parts

    # rank-0-only checkpoint, readable on every rank when save returns
    path = Path(out) / "ckpt.npz"
    dist.save(path, {"w": ag.Param(np.full(3, float(r)))})
    got["ckpt"] = ag.load(path)["w"].tolist()
    dist.log("log line from rank", r)
    with open(Path(out) / f"checks_{r}.json", "w") as fh:
        json.dump(got, fh)


def main():
    scenario, out = sys.argv[1], sys.argv[2]
    dist.init()
    if scenario == "train":
        sgd_model, sgd_losses = train(SGD(lr=0.1))
        adam_model, adam_losses = train(Adam(lr=0.01))
        np.savez(Path(out) / f"train_{dist.rank()}.npz",
                 sgd_losses=sgd_losses, adam_losses=adam_losses,
                 **{f"sgd_{i}": p.value for i, p in enumerate(ag.params(sgd_model))},
                 **{f"adam_{i}": p.value for i, p in enumerate(ag.params(adam_model))})
        checks(out)
    elif scenario == "gpu":
        import _simgpu

        with _simgpu.simulated_gpu(dist.world().comm.Dup()) as (cp, _):
            sgd_model, sgd_losses = train(SGD(lr=0.1), device="gpu")
            adam_model, adam_losses = train(Adam(lr=0.01), device="gpu")
            values = {f"{name}_{i}": p.value.get()
                      for name, model in (("sgd", sgd_model), ("adam", adam_model))
                      for i, p in enumerate(ag.params(model))}
            assert all(type(p.value) is cp.ndarray for p in ag.params(sgd_model))
            calls = sorted({c[0] for c in _simgpu.calls})
            # ranks with different numbers of sparse rows (3 and 1): NCCL's padding cut out
            r = dist.rank()
            g = dist.allreduce_grads([Sparse((100, 2), cp.asarray(np.arange(3 - 2 * r)),
                                             cp.asarray(np.full((3 - 2 * r, 2), r + 1.0)))])
            uneven = (len(g[0].indices), g[0].to_dense().get()[:4])
        np.savez(Path(out) / f"gpu_{dist.rank()}.npz", sgd_losses=sgd_losses,
                 adam_losses=adam_losses, calls=calls, uneven_rows=uneven[0],
                 uneven=uneven[1], **values)
    else:
        train(SGD(lr=0.1), fault=scenario)
        time.sleep(120)  # the survivor would keep waiting here if nothing stopped it
    dist.barrier()


if __name__ == "__main__":
    main()
