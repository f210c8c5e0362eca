"""A variational autoencoder on MNIST (Kingma & Welling, 2014), reporting the ELBO.

The encoder maps an image to the mean and log-variance of a Gaussian over a small latent
code; a code is drawn with the reparameterization trick, ``z = mu + exp(logvar / 2) * eps``
with ``eps ~ N(0, 1)`` drawn outside the tape, so that the gradient flows through ``mu`` and
``logvar``; the decoder maps it back to 784 pixel logits. The loss is the negative evidence
lower bound (ELBO) per image: the Bernoulli reconstruction error (binary cross-entropy with
logits, summed over the pixels) plus the KL divergence of the code's Gaussian from N(0, 1),
``-1/2 sum(1 + logvar - mu^2 - exp(logvar))``. Trained with Adam.

Each epoch prints the training loss and the held-out ELBO (in nats per image; higher is
better); the learning curve goes to examples/out/vae.png and a figure of held-out images, their
reconstructions and images decoded from random codes to examples/out/vae_samples.png. The last
line is the summary:

    vae: held-out ELBO -121.7 nats per image (reconstruction 97.7, KL 24.0) after 10 epochs in 24 s

Offline, the model trains on the first 8,000 MNIST test images and is evaluated on the last
2,000 (a note says so).
"""

import time

import numpy as np
from _common import (
    OUT,
    RunningMean,
    bar,
    check_device,
    check_limit,
    mnist_split,
    parser,
    plot,
    plural,
    positive,
    to_device,
)

from minitorch_ag import diff, grad, nn, params, value
from minitorch_ag.datasets import minibatch
from minitorch_ag.optim import Adam, update_


class VAE:
    """784 -> hidden -> (mu, logvar) of size ``latent``; latent -> hidden -> 784 logits."""

    def __init__(self, hidden, latent, rng):
        self.latent = latent
        self.encoder = nn.Chain(nn.Linear(784, hidden, nn.relu, rng=rng),
                                nn.Linear(hidden, 2 * latent, rng=rng))
        self.decoder = nn.Chain(nn.Linear(latent, hidden, nn.relu, rng=rng),
                                nn.Linear(hidden, 784, rng=rng))

    def encode(self, x):
        h = self.encoder(x)
        return h[:, : self.latent], h[:, self.latent :]

    def losses(self, x, eps):
        """Mean reconstruction error and KL divergence per image, for noise ``eps``."""
        mu, logvar = self.encode(x)
        z = mu + np.exp(0.5 * logvar) * eps  # the reparameterization trick
        logits = self.decoder(z)
        n = len(x)
        reconstruction = nn.bce_with_logits(logits, x, reduction="sum") / n
        kl = -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar)) / n
        return reconstruction, kl


def noise(rng, n, latent, device):
    """Standard normal ``eps`` of shape ``(n, latent)``, float32 (as the images), on
    ``device``: drawn on the host from the script's generator, so runs are reproducible."""
    return to_device(rng.standard_normal((n, latent), dtype=np.float32), device)


def evaluate(model, batches, rng, device):
    """Held-out reconstruction error and KL per image (one draw of the code per image)."""
    rec = kl = 0.0
    n = 0
    for x in batches:
        r, k = model.losses(x, noise(rng, len(x), model.latent, device))
        rec, kl, n = rec + float(r) * len(x), kl + float(k) * len(x), n + len(x)
    return rec / n, kl / n


def draw_samples(model, xtst, rng, device, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = xtst[:10]
    mu, _ = model.encode(x)
    recon = 1 / (1 + np.exp(-value(model.decoder(mu))))
    z = noise(rng, 10, model.latent, device)
    generated = 1 / (1 + np.exp(-value(model.decoder(z))))
    rows = [("held-out", x), ("reconstructed", recon), ("decoded from N(0, 1)", generated)]
    fig, axes = plt.subplots(3, 10, figsize=(10, 3.4))
    for r, (title, images) in enumerate(rows):
        images = np.asarray(to_device(images, "cpu"))
        for c in range(10):
            axes[r, c].imshow(images[c].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            axes[r, c].axis("off")
        axes[r, 0].set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    p = parser(__doc__, epochs=10, lr=1e-3)
    p.add_argument("--hidden", type=int, default=400, help="hidden units (default 400)")
    p.add_argument("--latent", type=int, default=20, help="latent code size (default 20)")
    p.add_argument("--batchsize", type=positive, default=100,
                   help="minibatch size (default 100)")
    p.add_argument("--limit", type=positive, default=None,
                   help="train on only the first LIMIT images (for quick tests)")
    args = p.parse_args(argv)
    check_limit(args.limit, args.batchsize)
    device = check_device(args.device)
    start = time.perf_counter()

    xtrn, _, xtst, _ = mnist_split(args.no_download)
    if args.limit:
        xtrn = xtrn[: args.limit]
    xtrn, xtst = xtrn.reshape(len(xtrn), -1), xtst.reshape(len(xtst), -1)
    print(f"training on {len(xtrn)} images, evaluating on {len(xtst)}")
    rng = np.random.default_rng(args.seed)
    batches = minibatch(xtrn, None, args.batchsize, shuffle=True, rng=rng, device=device)
    test = minibatch(xtst, None, 500, partial=True, device=device)
    model = to_device(VAE(args.hidden, args.latent, rng), device)
    opt = Adam(lr=args.lr)

    history = {"training loss": [], "held-out -ELBO": []}
    running = RunningMean()
    for epoch in range(1, args.epochs + 1):
        total = 0.0
        b = bar(batches, desc=f"epoch {epoch}")
        for x in b:
            eps = noise(rng, len(x), args.latent, device)
            tape = diff(lambda: sum(model.losses(x, eps)))  # noqa: B023 (called right away)
            ws = params(model)
            update_(ws, [grad(tape, w) for w in ws], opt)
            total += tape.item()
            b.set_postfix(loss=f"{running.add(tape.item()):.1f}", refresh=False)
        rec, kl = evaluate(model, test, rng, device)
        history["training loss"].append(total / len(batches))
        history["held-out -ELBO"].append(rec + kl)
        print(f"epoch {epoch:2d}: training loss {total / len(batches):.1f}, held-out ELBO "
              f"{-(rec + kl):.1f} (reconstruction {rec:.1f}, KL {kl:.1f}) nats per image",
              flush=True)

    if not args.no_plot:
        path = plot("vae.png", "VAE on MNIST", [("negative ELBO (nats per image)", history)])
        draw_samples(model, to_device(xtst, device), rng, device, OUT / "vae_samples.png")
        print(f"learning curve: {path}; samples: {OUT / 'vae_samples.png'}")
    print(f"vae: held-out ELBO {-(rec + kl):.1f} nats per image (reconstruction {rec:.1f}, KL "
          f"{kl:.1f}) after {plural(args.epochs, 'epoch')} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
