"""chainrule.train: ``fit``/``evaluate``/``predict``, callbacks, progress display and History."""

from chainrule.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    GradientClipping,
    LambdaCallback,
    LRSchedulerCallback,
    TerminateOnNaN,
    TrainState,
)
from chainrule.train.fit import evaluate, fit, predict
from chainrule.train.history import History
from chainrule.train.progress import ProgressBar

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "GradientClipping", "History",
           "LRSchedulerCallback", "LambdaCallback", "ProgressBar", "TerminateOnNaN",
           "TrainState", "evaluate", "fit", "predict"]
