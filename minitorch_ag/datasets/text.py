"""Character corpora for language models: Tiny Shakespeare by default, or any text file.

A :class:`CharCorpus` holds a text, its vocabulary (the sorted distinct characters) and the
text encoded as integer ids; :meth:`CharCorpus.batches` cuts it into the sequence batches of
truncated backpropagation through time, arranged so that row ``b`` of each batch continues row
``b`` of the batch before: a model can carry its hidden state from one batch to the next.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._files import DataFile, fetch

__all__ = ["CharCorpus", "tiny_shakespeare"]

_SHAKESPEARE = DataFile(
    "tinyshakespeare", "input.txt",
    ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",),
    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    size=1115394,
)


class CharCorpus:
    """A text with a character vocabulary.

    Args:
        text: the corpus.
        vocab: the characters, in id order; by default the sorted distinct characters of
            ``text`` (pass the training corpus's vocabulary to encode a validation text).

    Example:
        >>> from minitorch_ag.datasets import CharCorpus
        >>> c = CharCorpus("hello world")
        >>> c.decode(c.encode("hello"))
        'hello'
        >>> len(c.vocab)
        8
    """

    def __init__(self, text: str, vocab: Sequence[str] | None = None) -> None:
        if not text:
            raise ValueError("CharCorpus: the text is empty")
        self.text = text
        self.vocab: tuple[str, ...] = tuple(sorted(set(text))) if vocab is None else tuple(vocab)
        self.index = {ch: i for i, ch in enumerate(self.vocab)}
        if len(self.index) != len(self.vocab):
            raise ValueError("CharCorpus: the vocabulary repeats a character")
        self.ids = self.encode(text)

    @classmethod
    def from_file(cls, path: str | os.PathLike, encoding: str = "utf-8") -> CharCorpus:
        """The corpus of a text file."""
        return cls(Path(path).read_text(encoding=encoding))

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"CharCorpus({len(self)} characters, vocabulary of {len(self.vocab)})"

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text``'s characters (int64); a character outside the vocabulary is an
        error that names it."""
        try:
            return np.fromiter((self.index[ch] for ch in text), dtype=np.int64, count=len(text))
        except KeyError as e:
            raise ValueError(f"CharCorpus.encode: character {e.args[0]!r} is not in the "
                             f"vocabulary") from None

    def decode(self, ids: Any) -> str:
        """The text of a sequence of ids."""
        vocab = self.vocab
        return "".join(vocab[int(i)] for i in np.asarray(ids).reshape(-1))

    def split(self, fraction: float = 0.9) -> tuple[CharCorpus, CharCorpus]:
        """The first ``fraction`` of the text and the rest, sharing this vocabulary."""
        if not 0 < fraction < 1:
            raise ValueError(f"CharCorpus.split: fraction must be in (0, 1), got {fraction}")
        cut = int(len(self.text) * fraction)
        return CharCorpus(self.text[:cut], self.vocab), CharCorpus(self.text[cut:], self.vocab)

    def batches(self, batchsize: int, seqlen: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(x, y)`` pairs of shape ``(batchsize, seqlen)``: ``y`` is ``x`` shifted by one.

        The text is cut into ``batchsize`` contiguous streams, one per row; batch ``k`` holds
        characters ``k*seqlen ... (k+1)*seqlen - 1`` of every stream, so row ``b`` of batch
        ``k+1`` continues row ``b`` of batch ``k`` (carry the hidden state between them).
        The tail that does not fill a whole batch is dropped.
        """
        if batchsize < 1 or seqlen < 1:
            raise ValueError(f"CharCorpus.batches: batchsize and seqlen must be positive, got "
                             f"{batchsize} and {seqlen}")
        per_stream = (len(self.ids) - 1) // batchsize
        nbatches = per_stream // seqlen
        if nbatches == 0:
            raise ValueError(f"CharCorpus.batches: {len(self.ids)} characters are too few for "
                             f"one batch of {batchsize} x {seqlen}")
        usable = nbatches * seqlen
        streams_x = self.ids[: batchsize * per_stream].reshape(batchsize, per_stream)
        streams_y = self.ids[1: batchsize * per_stream + 1].reshape(batchsize, per_stream)
        for k in range(0, usable, seqlen):
            yield streams_x[:, k:k + seqlen], streams_y[:, k:k + seqlen]

    def nbatches(self, batchsize: int, seqlen: int) -> int:
        """How many batches :meth:`batches` yields."""
        return ((len(self.ids) - 1) // batchsize) // seqlen


def tiny_shakespeare(*, root: str | os.PathLike | None = None,
                     download: bool = True) -> CharCorpus:
    """Tiny Shakespeare (1,115,394 characters, 65 distinct), collected by Andrej Karpathy for
    char-rnn; cached and verified against a pinned SHA-256."""
    return CharCorpus.from_file(fetch(_SHAKESPEARE, root, download=download))
