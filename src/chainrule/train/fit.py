"""``fit``, ``evaluate`` and ``predict``: the training loop most scripts write by hand, once.

``fit`` runs exactly the loop of a PyTorch script (``zero_grad``, forward, loss, ``backward``,
``step``) and adds only bookkeeping around it: epoch-wide metrics, validation, callbacks, a
progress display and a ``History``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from chainrule.autograd.grad_mode import no_grad
from chainrule.data.dataloader import DataLoader
from chainrule.data.dataset import IterableDataset, TensorDataset
from chainrule.metrics.streaming import Metric, get_metric
from chainrule.random import Generator
from chainrule.tensor import Tensor
from chainrule.train.callbacks import Callback, TrainState
from chainrule.train.history import History
from chainrule.train.progress import ProgressBar

DEFAULT_BATCH_SIZE = 32
EVAL_BATCH_SIZE = 256


def _loss_function(loss: Callable | str) -> Callable:
    if callable(loss):
        return loss
    from chainrule.nn import functional as F

    named: dict[str, Callable] = {
        "cross_entropy": F.cross_entropy, "nll_loss": F.nll_loss, "mse_loss": F.mse_loss,
        "l1_loss": F.l1_loss, "huber_loss": F.huber_loss, "smooth_l1_loss": F.smooth_l1_loss,
        "binary_cross_entropy": F.binary_cross_entropy,
        "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits}
    if loss not in named:
        raise ValueError(f"fit: loss must be a callable (a loss module or function) or one of "
                         f"{sorted(named)}, got {loss!r}")
    return named[loss]


def as_loader(data: Any, batch_size: int | None, shuffle: bool, generator: Generator | None,
              what: str, default_batch_size: int = DEFAULT_BATCH_SIZE) -> Any:
    """A DataLoader over ``data``: a DataLoader (returned as is), a Dataset, or a tuple of
    arrays/tensors such as ``(X, y)``."""
    if isinstance(data, DataLoader):
        if batch_size is not None:
            raise ValueError(f"{what} is a DataLoader, which has its own batch_size "
                             f"({data.batch_size}); pass batch_size=None")
        return data
    if isinstance(data, tuple):
        if not data or not all(hasattr(a, "shape") for a in data):
            raise TypeError(f"{what}: a tuple must hold arrays or tensors such as (X, y), got "
                            f"({', '.join(type(a).__name__ for a in data)})")
        data = TensorDataset(*data)
    elif hasattr(data, "shape"):  # one array or tensor: inputs only
        data = TensorDataset(data)
    bs = batch_size or default_batch_size
    if isinstance(data, IterableDataset):
        return DataLoader(data, batch_size=bs)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return DataLoader(data, batch_size=bs, shuffle=shuffle, generator=generator)
    if isinstance(data, Iterable):
        return data  # any iterable of batches, e.g. a generator; used as it is
    raise TypeError(f"{what}: expected a DataLoader, a Dataset or a tuple (X, y) of "
                    f"arrays/tensors, got {type(data).__name__}")


def split_batch(batch: Any, where: str) -> tuple[tuple, Any]:
    """``(inputs, target)`` of a batch ``(x, y)`` or ``(x1, ..., xk, y)``."""
    if isinstance(batch, (list, tuple)) and len(batch) >= 2:
        return tuple(batch[:-1]), batch[-1]
    got = f"a {type(batch).__name__} of length {len(batch)}" if isinstance(
        batch, (list, tuple)) else f"a {type(batch).__name__}"
    raise TypeError(f"{where}: each batch must be (input, target) or (input1, ..., target), "
                    f"got {got}")


def _num_samples(target: Any) -> int:
    shape = getattr(target, "shape", None)
    return int(shape[0]) if shape else len(target)


def _len_or_none(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _metric_objects(metrics: Sequence[str | Metric | Callable]) -> list[Metric]:
    objs = [get_metric(m) for m in metrics]
    names = [m.name for m in objs]
    if len(set(names)) != len(names) or "loss" in names:
        raise ValueError(f"fit: metric names must be unique and not 'loss', got {names}")
    return objs


def fit(model: Any, train_data: Any, *, loss: Callable | str, optimizer: Any, epochs: int = 1,
        val_data: Any = None, metrics: Sequence[str | Metric | Callable] = (),
        callbacks: Sequence[Callback] = (), batch_size: int | None = None, shuffle: bool = True,
        verbose: int = 1, generator: Generator | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs and return the per-epoch logs.

    Each batch runs ``optimizer.zero_grad()``, ``output = model(*inputs)``,
    ``loss(output, target).backward()``, ``optimizer.step()``. The epoch's ``loss`` is the
    sample-weighted mean of its batch losses; metrics are accumulated over the whole epoch
    (not a mean of batch values). With ``val_data``, ``evaluate`` runs after each epoch and its
    values are logged with a ``val_`` prefix. ``lr`` is the first parameter group's learning
    rate during the epoch.

    Args:
        model: a Module (put in train mode for training, eval mode for validation).
        train_data: a DataLoader, a Dataset of ``(input, target)`` samples, or a tuple
            ``(X, y)`` of arrays/tensors.
        loss: ``loss(output, target) -> scalar tensor`` (e.g. ``nn.CrossEntropyLoss()``), or the
            name of a function of ``nn.functional`` (``'cross_entropy'``, ``'mse_loss'``...).
        optimizer: an optimizer over the model's parameters.
        epochs: how many passes over ``train_data``.
        val_data: data to evaluate after every epoch (same forms as ``train_data``).
        metrics: names (``'accuracy'``, ``'macro_f1'``, ``'top5_accuracy'``, ``'mse'``... see
            ``chainrule.metrics.get_metric``), ``Metric`` objects or functions
            ``fn(y_true, y_pred)``.
        callbacks: ``Callback`` objects (EarlyStopping, LRSchedulerCallback, ...).
        batch_size: batch size when the data is not a DataLoader (default 32; validation data
            uses at least 256).
        shuffle: shuffle ``train_data`` every epoch when it is not a DataLoader.
        verbose: 0 silent, 1 a progress bar (one line per epoch when the output is not a
            terminal), 2 one line per epoch; ignored when ``callbacks`` hold a ProgressBar.
        generator: random source of the shuffling (default: the one ``manual_seed`` seeds).

    Returns:
        A ``History``: ``history.history["loss"]``, ``["val_accuracy"]``, ...

    >>> import chainrule as torch
    >>> from chainrule import nn
    >>> from chainrule.train import fit
    >>> _ = torch.manual_seed(0)
    >>> X = torch.randn(64, 3); y = (X.sum(dim=1) > 0).long()
    >>> model = nn.Linear(3, 2)
    >>> h = fit(model, (X, y), loss=nn.CrossEntropyLoss(), epochs=20, verbose=0,
    ...         optimizer=torch.optim.SGD(model.parameters(), lr=0.5), metrics=["accuracy"])
    >>> h.history["accuracy"][-1] > 0.9
    True
    """
    loss_fn = _loss_function(loss)
    loader = as_loader(train_data, batch_size, shuffle, generator, "fit: train_data")
    val_loader = None if val_data is None else as_loader(
        val_data, None if isinstance(val_data, DataLoader) else max(batch_size or 0,
                                                                    EVAL_BATCH_SIZE),
        False, None, "fit: val_data")
    metric_objs = _metric_objects(metrics)
    history = History()
    cbs = list(callbacks)
    if verbose and not any(isinstance(cb, ProgressBar) for cb in cbs):
        cbs.insert(0, ProgressBar(mode="line" if verbose == 2 else "auto"))
    state = TrainState(model, optimizer, epochs, history, _len_or_none(loader), metric_objs)
    try:
        for cb in cbs:
            cb.on_train_begin(state)
        for epoch in range(epochs):
            _train_epoch(state, epoch, loader, loss_fn, cbs)
            logs = dict(state.logs)
            if val_loader is not None:
                val = evaluate(model, val_loader, loss=loss_fn, metrics=metric_objs)
                logs.update({f"val_{k}": v for k, v in val.items()})
            logs["lr"] = float(optimizer.param_groups[0]["lr"])
            state.logs = logs
            history.append(epoch, logs)
            for cb in cbs:
                cb.on_epoch_end(state)
            if state.stop_training:
                break
        for cb in cbs:
            cb.on_train_end(state)
    finally:
        for cb in cbs:
            if isinstance(cb, ProgressBar):
                cb.close()
    return history


def _train_epoch(state: TrainState, epoch: int, loader: Any, loss_fn: Callable,
                 cbs: list[Callback]) -> None:
    model, optimizer = state.model, state.optimizer
    model.train()
    for m in state.metrics:
        m.reset()
    state.epoch, state.batch, state.samples, state.logs = epoch, 0, 0, {}
    for cb in cbs:
        cb.on_epoch_begin(state)
    total = 0.0
    for index, batch in enumerate(loader):
        inputs, target = split_batch(batch, "fit")
        state.batch, state.batch_size, state.logs = index, _num_samples(target), {}
        for cb in cbs:
            cb.on_batch_begin(state)
        optimizer.zero_grad()
        output = model(*inputs)
        loss = loss_fn(output, target)
        if not isinstance(loss, Tensor) or loss.ndim != 0:
            raise ValueError(f"fit: the loss must return a scalar tensor, got "
                             f"{getattr(loss, 'shape', type(loss).__name__)}; use "
                             "reduction='mean' or 'sum'")
        loss.backward()
        for cb in cbs:
            cb.on_after_backward(state)
        optimizer.step()
        value = loss.item()
        for m in state.metrics:
            m.update(target, output)
        total += value * state.batch_size
        state.samples += state.batch_size
        state.logs = {"loss": value, "lr": float(optimizer.param_groups[0]["lr"])}
        for cb in cbs:
            cb.on_batch_end(state)
        if state.stop_training:
            break
    logs = {"loss": total / state.samples if state.samples else math.nan}
    for m in state.metrics:
        logs[m.name] = float(m.compute())
    state.logs = logs


def evaluate(model: Any, data: Any, loss: Callable | str | None = None,
             metrics: Sequence[str | Metric | Callable] = (),
             batch_size: int | None = None) -> dict[str, float]:
    """The loss (sample-weighted mean over batches) and metrics of ``model`` on ``data``.

    Runs in eval mode without gradients, then restores the model's mode.

    Args:
        model: the Module.
        data: a DataLoader, a Dataset or a tuple ``(X, y)``.
        loss: as in ``fit``; without it only the metrics are computed.
        metrics: as in ``fit``.
        batch_size: for data that is not a DataLoader (default 256).

    Returns:
        ``{"loss": ..., "<metric>": ...}`` as floats.

    >>> import chainrule as torch
    >>> from chainrule.train import evaluate
    >>> model = torch.nn.Linear(2, 2)
    >>> X, y = torch.randn(10, 2), torch.zeros(10).long()
    >>> sorted(evaluate(model, (X, y), loss="cross_entropy", metrics=["accuracy"]))
    ['accuracy', 'loss']
    """
    loss_fn = None if loss is None else _loss_function(loss)
    loader = as_loader(data, batch_size, False, None, "evaluate: data", EVAL_BATCH_SIZE)
    metric_objs = [get_metric(m) for m in metrics]
    for m in metric_objs:
        m.reset()
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with no_grad():
            for batch in loader:
                inputs, target = split_batch(batch, "evaluate")
                output = model(*inputs)
                n = _num_samples(target)
                if loss_fn is not None:
                    total += float(loss_fn(output, target).item()) * n
                count += n
                for m in metric_objs:
                    m.update(target, output)
    finally:
        model.train(was_training)
    logs = {"loss": total / count if count else math.nan} if loss_fn is not None else {}
    for m in metric_objs:
        logs[m.name] = float(m.compute())
    return logs


def predict(model: Any, data: Any, batch_size: int | None = None) -> Any:
    """The model's outputs for every sample of ``data``, concatenated along the first dim.

    ``data``: inputs ``X`` (an array or tensor), a tuple ``(X, y)`` (``y`` is ignored), a
    Dataset or a DataLoader (a batch ``(x, y)`` gives ``model(x)``, a batch ``(x,)`` or a
    tensor too). Runs in eval mode without gradients, then restores the model's mode.

    >>> import chainrule as torch
    >>> from chainrule.train import predict
    >>> predict(torch.nn.Linear(3, 2), torch.randn(5, 3)).shape
    (5, 2)
    """
    from chainrule.ops.shape import cat

    loader = as_loader(data, batch_size, False, None, "predict: data", EVAL_BATCH_SIZE)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with no_grad():
            for batch in loader:
                if isinstance(batch, (list, tuple)):
                    inputs = tuple(batch) if len(batch) == 1 else tuple(batch[:-1])
                else:
                    inputs = (batch,)
                outputs.append(model(*inputs))
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("predict: data has no samples")
    if isinstance(outputs[0], (tuple, list)):
        return tuple(cat([o[i] for o in outputs], 0) for i in range(len(outputs[0])))
    return cat(outputs, 0)
