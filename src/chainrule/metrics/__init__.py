"""chainrule.metrics: classification and regression metrics, as functions of whole arrays and as
streaming objects that accumulate over an epoch (what ``chainrule.train.fit`` logs)."""

from chainrule.metrics.functional import (
    accuracy,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision,
    r2_score,
    recall,
    top_k_accuracy,
)
from chainrule.metrics.streaming import (
    Accuracy,
    ConfusionMatrix,
    F1Score,
    FunctionMetric,
    MeanAbsoluteError,
    MeanSquaredError,
    Metric,
    Precision,
    R2Score,
    Recall,
    TopKAccuracy,
    get_metric,
)

__all__ = ["Accuracy", "ConfusionMatrix", "F1Score", "FunctionMetric", "MeanAbsoluteError",
           "MeanSquaredError", "Metric", "Precision", "R2Score", "Recall", "TopKAccuracy",
           "accuracy", "confusion_matrix", "f1_score", "get_metric", "mean_absolute_error",
           "mean_squared_error", "precision", "r2_score", "recall", "top_k_accuracy"]
