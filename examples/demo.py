"""The demo: a small CNN trained on the embedded UCI digits (8x8 images) with `fit`.

The model, loss and optimizer are PyTorch's (`import chainrule as torch`); `fit` runs the usual
loop (zero_grad, forward, loss, backward, step) with a progress bar and validation after every
epoch. Then the held-out test set: accuracy, macro precision, recall and F1, and the confusion
matrix. Run with `make demo`.
"""

import time

import chainrule as torch
from chainrule import metrics, nn
from chainrule.data import random_split
from chainrule.data.datasets import ATTRIBUTION, Digits
from chainrule.train import fit, predict


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 4 x 4
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 2 x 2
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
    )


def main(epochs: int = 15, seed: int = 0) -> float:
    torch.manual_seed(seed)
    train_full, test = Digits(train=True), Digits(train=False)
    train, val = random_split(train_full, [0.9, 0.1])
    print(f"data: {ATTRIBUTION}")
    print(f"{len(train)} training, {len(val)} validation, {len(test)} test images (1 x 8 x 8)")
    model = make_model()
    print(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    t0 = time.perf_counter()
    fit(model, train, loss=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=epochs,
        val_data=val, metrics=["accuracy"], batch_size=32)
    elapsed = time.perf_counter() - t0

    y_true = test.targets.numpy()
    y_pred = predict(model, test).argmax(dim=1).numpy()
    acc = metrics.accuracy(y_true, y_pred)
    print(f"\ntest ({len(test)} images, trained in {elapsed:.1f} s):")
    print(f"  accuracy         {acc:.4f}")
    for name, fn in [("macro precision", metrics.precision), ("macro recall", metrics.recall),
                     ("macro F1", metrics.f1_score)]:
        print(f"  {name:<16} {fn(y_true, y_pred, average='macro'):.4f}")
    cm = metrics.confusion_matrix(y_true, y_pred, labels=range(10))
    print("\nconfusion matrix (rows: true digit, columns: predicted digit)")
    print("     " + "".join(f"{d:>4}" for d in range(10)))
    for d, row in enumerate(cm):
        print(f"  {d}  " + "".join(f"{v:>4}" for v in row))
    return acc


if __name__ == "__main__":
    main()
