"""A character-level LSTM language model on Tiny Shakespeare, printing samples as it trains.

The model reads characters and predicts the next one: ``nn.Embedding`` -> ``nn.LSTM`` -> a
``Linear`` head giving a score per character, trained with softmax cross-entropy and Adam.
Training uses truncated backpropagation through time: the text is cut into ``--batchsize``
parallel streams, each batch holds the next ``--seqlen`` characters of every stream, and the
LSTM's final state is carried into the next batch, *detached* (``nn.detach``: its values, not
the tape behind them), so that each backward pass stops at the batch's first step. Gradients
are clipped to a global norm of ``--clip`` before each step (Pascanu et al., 2013).

Every ``--sample-every`` batches the model writes a sample (temperature ``--temperature``),
and each epoch ends with the loss on the held-out last 10% of the text. The last line is the
summary, in nats per character and as a perplexity (a uniform guess over the 65 characters
scores ln 65 = 4.17 nats):

    charlm: validation loss 1.78 nats/char (perplexity 5.91) after 1 epoch (490 batches) in 222 s

``--limit N`` uses the first N characters only (for quick runs and tests): 90% of them for
training, which must fill at least one batch of ``--batchsize`` x ``--seqlen``, and 10% for
validation (evaluated in fewer streams when it cannot fill as many).
"""

import time

import numpy as np
from _common import (
    RunningMean,
    bar,
    check_device,
    fail,
    load_data,
    parser,
    plot,
    plural,
    positive,
    say,
    smooth,
    to_device,
)

from minitorch_ag import diff, grad, nn, params, value
from minitorch_ag.datasets import CharCorpus, tiny_shakespeare
from minitorch_ag.optim import Adam, update_


class CharLM:
    """Embedding -> LSTM -> Linear: scores of the next character at every step."""

    def __init__(self, vocab, embed, hidden, layers, rng):
        self.embed = nn.Embedding(vocab, embed, rng=rng)
        self.lstm = nn.LSTM(embed, hidden, layers, rng=rng)
        self.head = nn.Linear(hidden, vocab, rng=rng)

    def __call__(self, ids, state=None):
        """Scores ``(N, T, vocab)`` for ids ``(N, T)``, and the LSTM's final state."""
        out, state = self.lstm(self.embed(ids), state)
        return self.head(out), state


def batch_loss(model, x, y, state):
    """Mean cross-entropy of the next-character predictions; also the final state."""
    scores, state = model(x, state)
    vocab = scores.shape[-1]
    return nn.cross_entropy(scores.reshape(-1, vocab), y.reshape(-1)), state


def evaluate(model, corpus, batchsize, seqlen, device):
    """Mean loss over ``corpus``, carrying the state as in training (no recording); in fewer
    streams than ``batchsize`` when the text is too short to fill them."""
    batchsize = min(batchsize, (len(corpus) - 1) // seqlen)
    total, n, state = 0.0, 0, None
    for x, y in corpus.batches(batchsize, seqlen):
        loss, state = batch_loss(model, to_device(x, device), to_device(y, device), state)
        total, n = total + float(loss), n + 1
    return total / n


def sample(model, corpus, prime, length, temperature, rng, device):
    """Text continuing ``prime``: one character at a time, fed back in with the state."""
    ids = corpus.encode(prime)
    scores, state = model(to_device(ids[None, :], device))
    out = []
    for _ in range(length):
        logits = np.asarray(to_device(value(scores[0, -1]), "cpu"), dtype=np.float64)
        p = np.exp((logits - logits.max()) / temperature)
        nxt = rng.choice(len(p), p=p / p.sum())
        out.append(nxt)
        scores, state = model(to_device(np.array([[nxt]]), device), state)
    return prime + corpus.decode(out)


def split(args):
    """The training and validation corpora (90% and 10% of the text, or of its first
    ``--limit`` characters); a clear exit when they are too short for the batch shape."""
    corpus = load_data(tiny_shakespeare, "Tiny Shakespeare", args.no_download)
    if args.limit:
        corpus = CharCorpus(corpus.text[: args.limit], corpus.vocab)
    fits = lambda n: (int(n * 0.9) - 1) // args.batchsize >= args.seqlen and \
        n - int(n * 0.9) - 1 >= args.seqlen
    if not fits(len(corpus)):
        need = len(corpus)
        while not fits(need):
            need += 1
        fail(f"{len(corpus):,} characters are too few for one batch of --batchsize "
             f"{args.batchsize} streams x --seqlen {args.seqlen} characters (plus 10% for "
             f"validation): use --limit {need} or more, or a smaller --batchsize or --seqlen")
    return corpus.split(0.9)


def main(argv=None):
    p = parser(__doc__, epochs=1, lr=2e-3)
    p.add_argument("--limit", type=positive, default=None,
                   help="use only the first LIMIT characters")
    p.add_argument("--batchsize", type=positive, default=32,
                   help="parallel streams (default 32)")
    p.add_argument("--seqlen", type=positive, default=64, help="BPTT length (default 64)")
    p.add_argument("--hidden", type=int, default=256, help="LSTM units (default 256)")
    p.add_argument("--embed", type=int, default=64, help="embedding size (default 64)")
    p.add_argument("--layers", type=int, default=1, help="LSTM layers (default 1)")
    p.add_argument("--clip", type=float, default=5.0, help="global gradient norm (default 5)")
    p.add_argument("--sample-every", type=int, default=200,
                   help="print a sample every this many batches (default 200)")
    p.add_argument("--sample-length", type=int, default=200, help="sample length (default 200)")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (0.8)")
    args = p.parse_args(argv)
    device = check_device(args.device)
    start = time.perf_counter()

    train, valid = split(args)
    nbatches = train.nbatches(args.batchsize, args.seqlen)
    print(f"charlm: {len(train)} training and {len(valid)} validation characters, vocabulary "
          f"of {len(train.vocab)}; {nbatches} batches of {args.batchsize} x {args.seqlen}")
    rng = np.random.default_rng(args.seed)
    model = to_device(CharLM(len(train.vocab), args.embed, args.hidden, args.layers, rng),
                      device)
    opt = Adam(lr=args.lr)
    losses, valid_losses, step = [], [], 0
    running = RunningMean()
    for epoch in range(1, args.epochs + 1):
        state = None  # each epoch starts the streams afresh
        b = bar(train.batches(args.batchsize, args.seqlen), f"epoch {epoch}", total=nbatches)
        for x, y in b:
            x, y = to_device(x, device), to_device(y, device)
            box = {}

            def objective(x=x, y=y, state=state, box=box):
                loss, box["state"] = batch_loss(model, x, y, state)
                return loss

            tape = diff(objective)
            ws = params(model)
            update_(ws, [grad(tape, w) for w in ws], opt, max_norm=args.clip)
            state = nn.detach(box["state"])  # carry the values, cut the tape (truncated BPTT)
            losses.append(tape.item())
            b.set_postfix(loss=f"{running.add(losses[-1]):.3f}", refresh=False)
            step += 1
            if step % args.sample_every == 0:
                text = sample(model, train, "ROMEO:", args.sample_length, args.temperature,
                              rng, device)
                say(f"--- sample after {step} batches (loss "
                           f"{np.mean(losses[-50:]):.3f}) ---\n{text}\n")
        valid_losses.append(evaluate(model, valid, args.batchsize, args.seqlen, device))
        print(f"epoch {epoch}: training loss {np.mean(losses[-nbatches:]):.3f}, validation "
              f"loss {valid_losses[-1]:.3f} nats/char", flush=True)

    text = sample(model, train, "ROMEO:", args.sample_length, args.temperature, rng, device)
    print(f"--- final sample ---\n{text}\n")
    if not args.no_plot:
        window = max(1, min(50, len(losses) // 10))
        x, y = smooth(losses, window)  # the mean of batches i-window+1 .. i, drawn at batch i
        path = plot("charlm.png", "Character LSTM on Tiny Shakespeare", [
            ("training loss (nats/char)", {f"mean of {window} batches": (x + 1, y)}),
        ], xlabel="batch")
        print(f"learning curve: {path}")
    v = valid_losses[-1]
    print(f"charlm: validation loss {v:.2f} nats/char (perplexity {np.exp(v):.2f}) after "
          f"{plural(args.epochs, 'epoch')} ({plural(step, 'batch', 'batches')}) in "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
