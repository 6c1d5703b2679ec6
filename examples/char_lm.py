"""A character-level LSTM language model, trained with truncated backpropagation through time.

The text is cut into ``batch`` contiguous streams read side by side, ``seq_len`` characters at a
time. The LSTM's state is carried from one chunk to the next, so the forward pass sees context
from the whole stream, but it is *detached* between chunks: backpropagation stops at the chunk
boundary. That is all truncated BPTT is -- a ``.detach()`` on the hidden state -- and it keeps
the cost of a step proportional to ``seq_len`` however long the text.

The default text is one that Python itself ships (its LICENSE.txt, or else the source of a
standard-library module); pass any text file instead. The script prints the training and
held-out loss falling (in bits per character) and then a sample of generated text.

Python's LICENSE.txt is only 14 kB, so a minute of training starts to memorise it (the
training loss keeps falling after the held-out one has levelled off); give it a longer text and
more ``--iters`` to see it learn more.

Run:  python examples/char_lm.py [path/to/text.txt] [--iters 240]
"""

from __future__ import annotations

import argparse
import math
import os
import sysconfig
import time

# isort: off
import chainrule as torch  # before NumPy: see src/chainrule/_blas_env.py
# isort: on
import numpy as np

from chainrule import nn
from chainrule.nn import functional as F


def default_text() -> tuple[str, str]:
    """Python's LICENSE.txt, or the source of a large standard-library module."""
    stdlib = sysconfig.get_paths()["stdlib"]
    for name in ("LICENSE.txt", os.path.join("pydoc_data", "topics.py"), "argparse.py"):
        path = os.path.join(stdlib, name)
        if os.path.exists(path):
            return path, open(path, encoding="utf-8", errors="replace").read()
    import inspect

    return "argparse (inspect.getsource)", inspect.getsource(argparse)


class CharLM(nn.Module):
    def __init__(self, vocab: int, hidden: int, embed: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor, state=None):
        """x: (seq_len, batch) character ids -> logits (seq_len, batch, vocab), new state."""
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


def streams(ids: np.ndarray, batch: int) -> np.ndarray:
    """(length, batch): ``batch`` contiguous pieces of the text, side by side."""
    n = len(ids) // batch
    return ids[:n * batch].reshape(batch, n).T.copy()


def evaluate(model: CharLM, data: np.ndarray, seq_len: int) -> float:
    """Mean loss over the held-out streams, the state carried across chunks."""
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, len(data) - 1, seq_len):
            x, y = data[i:i + seq_len], data[i + 1:i + 1 + seq_len]
            x = x[:len(y)]
            logits, state = model(torch.from_numpy(x), state)
            logits = logits.reshape(-1, logits.shape[-1])
            loss = F.cross_entropy(logits, torch.from_numpy(y.ravel()))
            total += loss.item() * y.size
            count += y.size
    return total / count


def sample(model: CharLM, chars: list[str], prompt: str, length: int, temperature: float,
           rng: np.random.Generator) -> str:
    index = {c: i for i, c in enumerate(chars)}
    ids = [index[c] for c in prompt if c in index] or [0]
    out, state = list(prompt), None
    with torch.no_grad():
        if len(ids) > 1:  # read the prompt, then continue from its last character
            _, state = model(torch.tensor(ids[:-1]).reshape(-1, 1))
        nxt = ids[-1]
        for _ in range(length):
            logits, state = model(torch.tensor([[nxt]]), state)
            z = logits.numpy()[0, 0].astype(np.float64) / temperature
            p = np.exp(z - z.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(chars[nxt])
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", nargs="?", help="a text file (default: one Python ships)")
    parser.add_argument("--iters", type=int, default=240)
    parser.add_argument("--seq-len", type=int, default=64, help="truncation length of BPTT")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.path:
        name, text = args.path, open(args.path, encoding="utf-8", errors="replace").read()
    else:
        name, text = default_text()
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text], np.int64)
    split = int(0.9 * len(ids))
    train, held_out = streams(ids[:split], args.batch), streams(ids[split:], 4)
    print(f"text: {name} ({len(text)} characters, {len(chars)} distinct); "
          f"{split} for training, {len(ids) - split} held out")

    torch.manual_seed(args.seed)
    model = CharLM(len(chars), args.hidden)
    print(model)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    bits = 1 / math.log(2)
    print(f"loss before training: {evaluate(model, held_out, args.seq_len) * bits:.2f} bits/char "
          f"(uniform guessing: {math.log2(len(chars)):.2f})")

    state, pos, start = None, 0, time.perf_counter()
    for it in range(1, args.iters + 1):
        if pos + args.seq_len + 1 > len(train):
            state, pos = None, 0  # back to the start of the streams: a fresh state
        x = torch.from_numpy(train[pos:pos + args.seq_len])
        y = torch.from_numpy(train[pos + 1:pos + 1 + args.seq_len])
        pos += args.seq_len
        if state is not None:
            # truncated BPTT: keep the state's values, cut the graph behind it
            state = tuple(s.detach() for s in state)
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if it % (args.iters // 8) == 0 or it == 1:
            held = evaluate(model, held_out, args.seq_len)
            print(f"iter {it:4d}  train {loss.item() * bits:.2f} bits/char  held-out "
                  f"{held * bits:.2f} bits/char  ({time.perf_counter() - start:.1f} s)")

    rng = np.random.default_rng(args.seed)
    prompt = text[split:split + 40]
    print("\nsample (temperature 0.7), starting from a held-out prompt:\n" + "-" * 72)
    print(sample(model, chars, prompt, 400, 0.7, rng))
    print("-" * 72)


if __name__ == "__main__":
    main()
