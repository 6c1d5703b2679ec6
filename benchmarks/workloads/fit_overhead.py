"""What ``chainrule.train.fit`` costs over the loop a user would write by hand (issue 5).

Both sides are chainrule: the same model (a 64-128-10 MLP on the embedded digits, 1437 training
images), the same ``DataLoader`` (batch 32, shuffled), ``nn.CrossEntropyLoss`` and
``Adam(lr=1e-3)``. One step is one epoch (45 batches). The hand-written loop does what ``fit``
reports: ``model.train()``, then per batch ``zero_grad``, forward, loss, ``backward``, ``step``
and the epoch's sample-weighted loss through ``loss.item()``. ``fit`` runs with ``verbose=0``,
and again with the progress bar a terminal gets from ``verbose=1`` (tqdm, written to
``os.devnull``). Bar: ``fit`` adds at most 5%.
"""

from __future__ import annotations

import os

from harness import Workload, register

HIDDEN = 128
BATCH = 32


def _problem():
    import chainrule
    from chainrule import nn
    from chainrule.data import DataLoader
    from chainrule.data.datasets import Digits

    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10))
    loader = DataLoader(Digits(train=True, flatten=True), batch_size=BATCH, shuffle=True,
                        generator=chainrule.Generator().manual_seed(0))
    opt = chainrule.optim.Adam(model.parameters(), lr=1e-3)
    return model, loader, nn.CrossEntropyLoss(), opt


def _hand_loop():
    model, loader, loss_fn, opt = _problem()

    def epoch():
        model.train()
        total, count = 0.0, 0
        for x, y in loader:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            count += len(y)
        return total / count

    return epoch


def _fit(progress: bool):
    def setup():
        from chainrule.train import ProgressBar, fit

        model, loader, loss_fn, opt = _problem()
        callbacks = []
        if progress:
            sink = open(os.devnull, "w")  # open as long as the workload lives
            callbacks.append(ProgressBar(stream=sink, mode="bar"))

        def epoch():
            return fit(model, loader, loss=loss_fn, optimizer=opt, epochs=1, verbose=0,
                       callbacks=callbacks)

        return epoch

    return setup


for _name, _progress, _what in [("fit_digits_mlp", False, "verbose=0"),
                                ("fit_digits_mlp_progress", True, "tqdm progress bar")]:
    register(Workload(
        name=_name,
        chainrule=_fit(_progress),
        torch=_hand_loop,
        baseline="loop",
        bar=1.05,
        steps=8,
        rounds=21,  # (both sides run the same code but a few us a batch: VM noise dominates)
        description=f"chainrule.train.fit ({_what}) vs a hand-written chainrule loop: one "
                    f"epoch of a 64-{HIDDEN}-10 MLP on the digits, batch {BATCH}, Adam",
    ))
