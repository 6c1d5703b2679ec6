"""Every callback, driven through fit on a tiny problem."""

import io
import math

import numpy as np
import pytest

import chainrule as torch
from chainrule import nn
from chainrule.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    GradientClipping,
    LambdaCallback,
    LRSchedulerCallback,
    TerminateOnNaN,
    fit,
)
from chainrule.train import callbacks as callbacks_module


def problem(n=32, seed=0):
    torch.manual_seed(seed)
    X = torch.randn(n, 4)
    y = (X[:, 0] - X[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    return model, (X, y)


def run(callbacks, epochs=6, lr=0.1, loss="cross_entropy", batch_size=8, **kw):
    model, data = problem()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    history = fit(model, data, loss=loss, optimizer=opt, epochs=epochs, batch_size=batch_size,
                  callbacks=callbacks, verbose=0, **kw)
    return model, opt, history


def scripted(key, values):
    """A callback that writes a scripted value into the epoch logs (before the others)."""
    def set_value(state):
        state.logs[key] = values[state.epoch]
    return LambdaCallback(on_epoch_end=set_value)


def test_hook_order():
    calls = []
    def recorder(hook):
        return lambda s: calls.append((hook, s.epoch, s.batch))

    hooks = {h: recorder(h) for h in callbacks_module._HOOKS}
    run([LambdaCallback(**hooks)], epochs=2, batch_size=16)
    per_batch = ["on_batch_begin", "on_after_backward", "on_batch_end"]
    epoch = ["on_epoch_begin"] + per_batch * 2 + ["on_epoch_end"]
    assert [c[0] for c in calls] == ["on_train_begin"] + epoch * 2 + ["on_train_end"]
    assert calls[-2] == ("on_epoch_end", 1, 1)
    with pytest.raises(TypeError, match=r"unknown hooks \['on_step'\]"):
        LambdaCallback(on_step=print)


def test_after_backward_sees_gradients_before_the_step():
    seen = []

    class Check(Callback):
        def on_batch_begin(self, state):
            self.before = state.model[0].weight.numpy().copy()

        def on_after_backward(self, state):
            w = state.model[0].weight
            seen.append(w.grad is not None and np.array_equal(w.numpy(), self.before))

        def on_batch_end(self, state):
            seen.append(not np.array_equal(state.model[0].weight.numpy(), self.before))

    run([Check()], epochs=1)
    assert len(seen) == 8 and all(seen)


def test_early_stopping_patience_and_restore():
    weights = {}
    record = LambdaCallback(on_epoch_end=lambda s: weights.__setitem__(
        s.epoch, s.model[0].weight.numpy().copy()))
    stop = EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    values = [1.0, 0.5, 0.6, 0.7, 0.4, 0.1]
    model, _, history = run([scripted("score", values), record, stop])
    # best at epoch 1; epochs 2 and 3 do not improve -> stop after epoch 3
    assert len(history) == 4 and stop.stopped_epoch == 3 and stop.best_epoch == 1
    assert stop.best == 0.5
    np.testing.assert_array_equal(model[0].weight.numpy(), weights[1])


def test_early_stopping_min_delta_mode_baseline():
    stop = EarlyStopping(monitor="val_accuracy", min_delta=0.05, patience=1)
    assert stop.mode == "max"
    _, _, h = run([scripted("val_accuracy", [0.5, 0.52, 0.53, 0.9, 0.91, 0.92]), stop])
    assert len(h) == 2  # +0.02 is below min_delta: one epoch of patience then stop
    stop = EarlyStopping(monitor="score", mode="min", patience=2, baseline=0.1)
    _, _, h = run([scripted("score", [0.5, 0.4, 0.3, 0.2, 0.05, 0.01]), stop])
    assert len(h) == 2  # never beats the baseline within the patience
    _, _, h = run([scripted("score", [0.5, 0.4, 0.3, 0.2, 0.1, 0.05]),
                   EarlyStopping(monitor="score", patience=0)])
    assert len(h) == 6  # improving every epoch: never stops
    with pytest.raises(ValueError, match=r"monitor='val_loss' is not in the logs; available: "
                                         r"\['loss', 'lr'\]"):
        run([EarlyStopping()])


def test_lr_scheduler_per_epoch_and_per_batch():
    model, data = problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    h = fit(model, data, loss="cross_entropy", optimizer=opt, epochs=5, batch_size=8, verbose=0,
            callbacks=[LRSchedulerCallback(sched)])
    assert h.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    model, data = problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    fit(model, data, loss="cross_entropy", optimizer=opt, epochs=2, batch_size=8, verbose=0,
        callbacks=[LRSchedulerCallback(sched, interval="batch")])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.9 ** 8)


def test_reduce_lr_on_plateau_gets_the_monitored_value():
    model, data = problem()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    h = fit(model, data, loss="cross_entropy", optimizer=opt, epochs=6, batch_size=8, verbose=0,
            callbacks=[scripted("score", [1.0, 0.9, 0.95, 0.95, 0.95, 0.95]),
                       LRSchedulerCallback(sched, monitor="score")])
    assert h.history["lr"] == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.5, 0.5])
    assert opt.param_groups[0]["lr"] == 0.25
    with pytest.raises(ValueError, match="ReduceLROnPlateau steps once per epoch"):
        LRSchedulerCallback(sched, interval="batch")


def test_gradient_clipping_by_norm_and_value():
    norms, maxima = [], []

    def total_norm(state):
        grads = [p.grad.numpy() for p in state.model.parameters()]
        norms.append(math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)))
        maxima.append(max(float(np.abs(g).max()) for g in grads))

    clip = GradientClipping(max_norm=0.01)
    _, _, h = run([clip, LambdaCallback(on_after_backward=total_norm)], epochs=1, lr=10.0)
    assert max(norms) <= 0.01 * (1 + 1e-5) and clip.last_norm > 0.01
    norms.clear()
    maxima.clear()
    run([GradientClipping(clip_value=2.0 ** -10), LambdaCallback(on_after_backward=total_norm)],
        epochs=1, lr=10.0)
    assert maxima == [2.0 ** -10] * 4  # clipped, and exactly to the bound
    with pytest.raises(ValueError, match="exactly one of max_norm and clip_value"):
        GradientClipping()


def test_grad_norm_reaches_the_batch_logs():
    logged = []
    run([GradientClipping(max_norm=100.0),
         LambdaCallback(on_batch_end=lambda s: logged.append(s.logs["grad_norm"]))], epochs=1)
    assert len(logged) == 4 and all(v > 0 for v in logged)


def test_terminate_on_nan_names_epoch_and_batch():
    calls = [0]
    base = nn.CrossEntropyLoss()

    def loss(output, target):
        calls[0] += 1
        value = base(output, target)
        return value * float("nan") if calls[0] == 7 else value  # epoch 2, batch 3

    out = io.StringIO()
    stop = TerminateOnNaN(stream=out)
    _, _, h = run([stop], epochs=5, loss=loss)
    assert stop.stopped_at == (1, 2) and calls[0] == 7 and len(h) == 2
    assert "the loss is nan at epoch 2/5, batch 3/4; stopping training" in out.getvalue()
    assert math.isnan(h.history["loss"][-1])


def test_csv_logger_writes_atomically(tmp_path, monkeypatch):
    path = tmp_path / "logs" / "train.csv"
    replaced = []
    real_replace = callbacks_module.os.replace

    def spy(src, dst):
        assert not path.exists() or path.read_text()  # the old file stays whole until now
        replaced.append((src, dst))
        real_replace(src, dst)

    monkeypatch.setattr(callbacks_module.os, "replace", spy)
    _, _, h = run([CSVLogger(path)], epochs=3, metrics=["accuracy"])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,accuracy,loss,lr" and len(lines) == 4
    assert lines[3].split(",")[0] == "2"
    assert float(lines[3].split(",")[2]) == h.history["loss"][2]
    assert len(replaced) == 3 and all(str(d) == str(path) for _, d in replaced)
    assert all(str(s).startswith(str(path.parent)) for s, _ in replaced)
    assert sorted(p.name for p in path.parent.iterdir()) == ["train.csv"]
    run([CSVLogger(path, append=True)], epochs=2, metrics=["accuracy"])
    lines = path.read_text().splitlines()
    assert len(lines) == 6 and lines[0] == "epoch,accuracy,loss,lr" and lines[4].startswith("0,")
