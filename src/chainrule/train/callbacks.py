"""Callbacks: small objects whose hooks ``fit`` calls during training, each with a ``TrainState``.

Order of the hooks: ``on_train_begin``; per epoch ``on_epoch_begin``; per batch
``on_batch_begin``, (forward, loss, backward), ``on_after_backward``, (optimizer step),
``on_batch_end``; validation; ``on_epoch_end``; finally ``on_train_end``. Setting
``state.stop_training = True`` ends training after the current batch.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_batch_begin",
          "on_batch_end", "on_after_backward")


class TrainState:
    """What a callback sees: the model and optimizer, where training is, and the latest logs.

    Attributes:
        model, optimizer: what is being trained.
        epoch: the current epoch, counted from 0; ``epochs`` their total.
        batch: the current batch within the epoch, from 0; ``num_batches`` their number per
            epoch (``None`` when the data has no length).
        batch_size: samples in the current batch; ``samples``: samples seen this epoch.
        logs: floats by name. In batch hooks ``loss`` (of this batch) and ``lr``; in
            ``on_epoch_end`` the epoch's ``loss``, metrics, ``val_*`` values and ``lr``.
        metrics: the streaming metric objects of the training data (running values).
        history: the ``History`` filled so far.
        stop_training: set it to end training after the current batch.
    """

    def __init__(self, model: Any, optimizer: Any, epochs: int, history: Any,
                 num_batches: int | None, metrics: list) -> None:
        self.model, self.optimizer, self.history = model, optimizer, history
        self.epoch, self.epochs = 0, epochs
        self.batch, self.num_batches = 0, num_batches
        self.batch_size, self.samples = 0, 0
        self.logs: dict[str, float] = {}
        self.metrics = metrics
        self.stop_training = False


class Callback:
    """Base of the callbacks: every hook receives the ``TrainState`` and does nothing here.

    >>> from chainrule.train import Callback
    >>> class PrintEpoch(Callback):
    ...     def on_epoch_end(self, state):
    ...         print(state.epoch, round(state.logs["loss"], 2))
    """

    def on_train_begin(self, state: TrainState) -> None:
        pass

    def on_train_end(self, state: TrainState) -> None:
        pass

    def on_epoch_begin(self, state: TrainState) -> None:
        pass

    def on_epoch_end(self, state: TrainState) -> None:
        pass

    def on_batch_begin(self, state: TrainState) -> None:
        pass

    def on_batch_end(self, state: TrainState) -> None:
        pass

    def on_after_backward(self, state: TrainState) -> None:
        """Between ``loss.backward()`` and ``optimizer.step()``: gradients are in ``.grad``."""


def _monitored(state: TrainState, monitor: str, who: str) -> float:
    if monitor not in state.logs:
        raise ValueError(f"{who}: monitor={monitor!r} is not in the logs; available: "
                         f"{sorted(state.logs)} (val_* values need val_data in fit)")
    return float(state.logs[monitor])


class EarlyStopping(Callback):
    """Stop training when a monitored value has stopped improving.

    Args:
        monitor: the log key to watch (default ``'val_loss'``).
        min_delta: a change smaller than this does not count as an improvement.
        patience: epochs without improvement after which training stops.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (``'max'`` for names with acc, f1, precision,
            recall, r2 or auc, else ``'min'``).
        baseline: training stops if the value does not beat this within ``patience`` epochs.
        restore_best_weights: at the end of training, load the weights of the best epoch.
        start_from_epoch: epochs of warm-up before improvements are watched.
        verbose: print a line when stopping.

    >>> from chainrule.train import EarlyStopping
    >>> stop = EarlyStopping(monitor="val_accuracy", patience=3, restore_best_weights=True)
    >>> stop.mode
    'max'
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0,
                 verbose: bool = False) -> None:
        if mode == "auto":
            higher = ("acc", "f1", "precision", "recall", "r2", "auc")
            mode = "max" if any(h in monitor for h in higher) else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.monitor, self.min_delta, self.patience = monitor, abs(min_delta), patience
        self.mode, self.baseline = mode, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.verbose = verbose

    def _better(self, value: float, reference: float) -> bool:
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def on_train_begin(self, state: TrainState) -> None:
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_epoch: int | None = None
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights: dict | None = None

    def on_epoch_end(self, state: TrainState) -> None:
        value = _monitored(state, self.monitor, "EarlyStopping")
        if state.epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _copy_weights(state.model)
        self.wait += 1
        if self._better(value, self.best):
            self.best, self.best_epoch = value, state.epoch
            if self.restore_best_weights:
                self.best_weights = _copy_weights(state.model)
            if self.baseline is None or self._better(value, self.baseline):
                self.wait = 0
                return
        if self.wait >= self.patience and state.epoch > 0:
            self.stopped_epoch = state.epoch
            state.stop_training = True
            if self.verbose:
                print(f"EarlyStopping: {self.monitor} has not improved for {self.wait} epochs; "
                      f"stopping after epoch {state.epoch + 1}", file=sys.stderr)

    def on_train_end(self, state: TrainState) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            state.model.load_state_dict(self.best_weights)
            if self.verbose and self.best_epoch is not None:
                print(f"EarlyStopping: restored the weights of epoch {self.best_epoch + 1}",
                      file=sys.stderr)


def _copy_weights(model: Any) -> dict[str, np.ndarray]:
    return {k: np.array(v.numpy(), copy=True) for k, v in model.state_dict().items()}


class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler every epoch or every batch.

    A ``ReduceLROnPlateau`` is stepped at the end of each epoch with the value of ``monitor``.

    Args:
        scheduler: any scheduler of ``chainrule.optim.lr_scheduler``.
        interval: ``'epoch'`` (after validation) or ``'batch'`` (after each optimizer step).
        monitor: the log key handed to ``ReduceLROnPlateau.step``.

    >>> import chainrule
    >>> from chainrule.train import LRSchedulerCallback
    >>> opt = chainrule.optim.SGD(chainrule.nn.Linear(2, 1).parameters(), lr=0.1)
    >>> sched = chainrule.optim.lr_scheduler.StepLR(opt, step_size=10)
    >>> LRSchedulerCallback(sched).interval
    'epoch'
    """

    def __init__(self, scheduler: Any, interval: str = "epoch", monitor: str = "val_loss") -> None:
        from chainrule.optim.lr_scheduler import ReduceLROnPlateau

        if interval not in ("epoch", "batch"):
            raise ValueError(f"LRSchedulerCallback: interval must be 'epoch' or 'batch', got "
                             f"{interval!r}")
        self.plateau = isinstance(scheduler, ReduceLROnPlateau)
        if self.plateau and interval == "batch":
            raise ValueError("LRSchedulerCallback: ReduceLROnPlateau steps once per epoch with "
                             "a monitored value; use interval='epoch'")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor

    def on_batch_end(self, state: TrainState) -> None:
        if self.interval == "batch":
            self.scheduler.step()

    def on_epoch_end(self, state: TrainState) -> None:
        if self.interval != "epoch":
            return
        if self.plateau:
            self.scheduler.step(_monitored(state, self.monitor, "LRSchedulerCallback"))
        else:
            self.scheduler.step()


class GradientClipping(Callback):
    """Clip the gradients of the optimizer's parameters after each backward pass.

    Give ``max_norm`` (rescale so the total norm is at most this, ``clip_grad_norm_``) or
    ``clip_value`` (clamp each element to [-clip_value, clip_value], ``clip_grad_value_``).
    With ``max_norm`` the norm before clipping is logged as ``grad_norm`` in the batch logs.

    >>> from chainrule.train import GradientClipping
    >>> GradientClipping(max_norm=1.0).max_norm
    1.0
    """

    def __init__(self, max_norm: float | None = None, norm_type: float = 2.0,
                 clip_value: float | None = None) -> None:
        if (max_norm is None) == (clip_value is None):
            raise ValueError("GradientClipping: give exactly one of max_norm and clip_value, "
                             f"got max_norm={max_norm}, clip_value={clip_value}")
        self.max_norm, self.norm_type, self.clip_value = max_norm, norm_type, clip_value
        self.last_norm: float | None = None

    def on_after_backward(self, state: TrainState) -> None:
        from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_

        params = [p for g in state.optimizer.param_groups for p in g["params"]]
        if self.max_norm is not None:
            self.last_norm = float(clip_grad_norm_(params, self.max_norm, self.norm_type))
        else:
            clip_grad_value_(params, float(self.clip_value))  # type: ignore[arg-type]

    def on_batch_end(self, state: TrainState) -> None:
        if self.last_norm is not None:
            state.logs["grad_norm"] = self.last_norm


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite, naming the epoch and batch.

    >>> from chainrule.train import TerminateOnNaN
    >>> TerminateOnNaN().stopped_at is None
    True
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.stopped_at: tuple[int, int] | None = None

    def on_batch_end(self, state: TrainState) -> None:
        loss = state.logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.stopped_at = (state.epoch, state.batch)
            batches = f"/{state.num_batches}" if state.num_batches else ""
            print(f"TerminateOnNaN: the loss is {loss} at epoch {state.epoch + 1}/{state.epochs}"
                  f", batch {state.batch + 1}{batches}; stopping training",
                  file=self.stream or sys.stderr)
            state.stop_training = True


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and move it over ``path`` at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class CSVLogger(Callback):
    """Write the epoch logs to a CSV file, one row per epoch, rewritten atomically each epoch.

    Columns: ``epoch`` (from 0) then the log keys of the first epoch, sorted. A reader never
    sees a half-written file.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: keep the rows of an existing file (and its columns).

    >>> from chainrule.train import CSVLogger
    >>> CSVLogger("run/log.csv").filename.name
    'log.csv'
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",",
                 append: bool = False) -> None:
        self.filename, self.separator, self.append = Path(filename), separator, append

    def on_train_begin(self, state: TrainState) -> None:
        self.lines: list[str] = []
        self.keys: list[str] | None = None
        if self.append and self.filename.is_file():
            self.lines = self.filename.read_text().splitlines()
            if self.lines:
                self.keys = self.lines[0].split(self.separator)[1:]

    def on_epoch_end(self, state: TrainState) -> None:
        if self.keys is None:
            self.keys = sorted(state.logs)
            self.lines = [self.separator.join(["epoch", *self.keys])]
        values = [state.logs.get(k) for k in self.keys]
        self.lines.append(self.separator.join(
            [str(state.epoch), *("NA" if v is None else repr(float(v)) for v in values)]))
        atomic_write_text(self.filename, "\n".join(self.lines) + "\n")


class LambdaCallback(Callback):
    """A callback from plain functions of the state, one per hook given by name.

    >>> from chainrule.train import LambdaCallback
    >>> seen = []
    >>> cb = LambdaCallback(on_epoch_end=lambda state: seen.append(state.epoch))
    >>> cb.on_epoch_end(type("S", (), {"epoch": 0})()); seen
    [0]
    """

    def __init__(self, **hooks: Callable[[TrainState], Any]) -> None:
        unknown = sorted(set(hooks) - set(_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hooks {unknown}; expected some of "
                            f"{list(_HOOKS)}")
        self.hooks = hooks

    def on_train_begin(self, state: TrainState) -> None:
        self._call("on_train_begin", state)

    def on_train_end(self, state: TrainState) -> None:
        self._call("on_train_end", state)

    def on_epoch_begin(self, state: TrainState) -> None:
        self._call("on_epoch_begin", state)

    def on_epoch_end(self, state: TrainState) -> None:
        self._call("on_epoch_end", state)

    def on_batch_begin(self, state: TrainState) -> None:
        self._call("on_batch_begin", state)

    def on_batch_end(self, state: TrainState) -> None:
        self._call("on_batch_end", state)

    def on_after_backward(self, state: TrainState) -> None:
        self._call("on_after_backward", state)

    def _call(self, hook: str, state: TrainState) -> None:
        fn = self.hooks.get(hook)
        if fn is not None:
            fn(state)
