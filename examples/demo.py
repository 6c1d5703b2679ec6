"""The demo: a 64-64-10 network trained with raw tensors on the embedded UCI digits.

No nn, no optim: the forward pass, the loss, backpropagation and the SGD update written out,
so every step of learning is in view. Run with `make demo`.
"""

import time

import numpy as np

import chainrule as cr
from chainrule.data.datasets import ATTRIBUTION, load_digits


def main(epochs: int = 30, batch: int = 32, lr: float = 0.1, seed: int = 0) -> float:
    X, y = load_digits()
    X = X / 16.0
    order = np.random.default_rng(seed).permutation(len(X))
    test, train = order[:360], order[360:]
    cr.manual_seed(seed)
    W1 = cr.randn(64, 64) * (2 / 64) ** 0.5
    b1 = cr.zeros(64)
    W2 = cr.randn(64, 10) * (1 / 64) ** 0.5
    b2 = cr.zeros(10)
    params = [p.requires_grad_() for p in (W1, b1, W2, b2)]
    gen = np.random.default_rng(seed)
    print(f"data: {ATTRIBUTION}")
    print(f"training 64-64-10 on {len(train)} digits, testing on {len(test)}")
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        perm = gen.permutation(train)
        total = 0.0
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            xb, yb = cr.from_numpy(X[idx]), cr.from_numpy(y[idx])
            logits = (xb @ W1 + b1).relu() @ W2 + b2
            logp = logits.log_softmax(dim=1)
            loss = -logp.gather(1, yb.unsqueeze(1)).mean()
            for p in params:
                p.grad = None
            loss.backward()
            with cr.no_grad():
                for p in params:
                    p -= lr * p.grad
            total += loss.item() * len(idx)
        if epoch % 5 == 0 or epoch == 1:
            print(f"epoch {epoch:3d}  loss {total / len(train):.4f}")
    with cr.no_grad():
        logits = (cr.from_numpy(X[test]) @ W1 + b1).relu() @ W2 + b2
        acc = float((logits.argmax(dim=1).numpy() == y[test]).mean())
    print(f"test accuracy {acc:.3f}  ({time.perf_counter() - t0:.1f} s)")
    return acc


if __name__ == "__main__":
    main()
