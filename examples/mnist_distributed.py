"""The MNIST MLP of mnist_mlp.py, trained data-parallel on several processes with MPI.

Run it on two processes (or N), or on one, with the same code:

    mpirun -n 2 python examples/mnist_distributed.py      # needs: pip install -e '.[mpi]'
    python examples/mnist_distributed.py                  # one process: the same training

Every rank builds the model; ``DataParallel`` broadcasts rank 0's initial values and, at each
step, averages the gradients over the ranks (one packed all-reduce) before the Adam update.
``shard`` hands each rank its part of every global batch of one shuffled epoch, so N ranks
take exactly the steps one process would take on the global batches: the printed losses and
accuracies agree with a one-process run up to float32 rounding. Only rank 0 shows the
progress bar, prints, evaluates and writes the checkpoint (examples/out/mnist_distributed.npz,
atomically). With ``--device gpu`` each rank uses the GPU of its local rank and the gradients
travel through NCCL. The last line (rank 0) is the summary:

    mnist_distributed: adam 97.05% held-out accuracy (2000 images), 2 processes, in 9.8 s
"""

import time

import numpy as np
from _common import OUT, check_device, mnist_split, parser

from minitorch_ag import Param, to_device
from minitorch_ag import distributed as dist
from minitorch_ag.datasets import minibatch
from minitorch_ag.nn import accuracy, cross_entropy, relu
from minitorch_ag.optim import SGD, Adam


class Linear:
    """``x @ w + b``: the README's callable ``Linear``, batch-first."""

    def __init__(self, nin, nout, rng):
        self.w = Param((rng.standard_normal((nin, nout)) * np.sqrt(2 / nin)).astype(np.float32))
        self.b = Param(np.zeros(nout, np.float32))

    def __call__(self, x):
        return x @ self.w + self.b


class MLP:
    """``Linear`` layers with a ReLU after each but the last; returns class scores."""

    def __init__(self, sizes, rng):
        self.layers = [Linear(m, n, rng) for m, n in zip(sizes[:-1], sizes[1:], strict=True)]

    def __call__(self, x):
        x = x.reshape(len(x), -1)
        for layer in self.layers[:-1]:
            x = relu(layer(x))
        return self.layers[-1](x)


def main(argv=None):
    p = parser(__doc__, epochs=10)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                   help="adam (lr 0.001, default) or sgd (lr 0.1)")
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 128],
                   help="hidden layer sizes (default 256 128)")
    p.add_argument("--batchsize", type=int, default=50,
                   help="global minibatch size, shared out among the ranks (default 50)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on only the first LIMIT images (for quick tests)")
    args = p.parse_args(argv)
    dist.init()
    # One GPU per process: rank r of a machine takes its GPU number local_rank().
    device = args.device if args.device != "gpu" else f"gpu:{dist.local_rank()}"
    device = check_device(device)
    start = time.perf_counter()

    xtrn, ytrn, xtst, ytst = mnist_split(args.no_download)
    if args.limit:
        xtrn, ytrn = xtrn[: args.limit], ytrn[: args.limit]
    dist.log(f"training on {len(xtrn)} images, evaluating on {len(xtst)}, "
             f"{dist.size()} process(es), global batch {args.batchsize}")
    # The same seed everywhere; shard() also hands rank 0's generator state to every rank.
    batches = dist.shard(minibatch(xtrn, ytrn, args.batchsize, shuffle=True,
                                   rng=np.random.default_rng(args.seed), device=device))
    test = minibatch(xtst, ytst, 500, partial=True, device=device)

    model = MLP([28 * 28, *args.hidden, 10], np.random.default_rng(args.seed))
    to_device(model, device)
    opt = Adam(lr=1e-3) if args.optimizer == "adam" else SGD(lr=0.1)
    dp = dist.DataParallel(model, opt)  # rank 0's initial values on every rank
    loss = lambda x, y: cross_entropy(model(x), y)
    acc = float("nan")
    for epoch in range(1, args.epochs + 1):
        steps = dist.progress(dp.minimize(loss, batches), desc=f"epoch {epoch}", leave=False)
        mean_loss = float(np.mean(list(steps)))  # the mean over ranks of each step's loss
        if dist.is_root():  # the others go on to the next epoch and wait for rank 0 there
            acc = 100 * accuracy(model, test)
            print(f"epoch {epoch:2d}: training loss {mean_loss:.4f}  held-out accuracy "
                  f"{acc:.2f}%", flush=True)
        if dist.is_root():
            OUT.mkdir(parents=True, exist_ok=True)
        dist.save(OUT / "mnist_distributed.npz", model)  # rank 0 writes, atomically
    dist.log(f"mnist_distributed: {args.optimizer} {acc:.2f}% held-out accuracy "
             f"({len(xtst)} images), {dist.size()} process{'es' if dist.size() > 1 else ''}, in "
             f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
