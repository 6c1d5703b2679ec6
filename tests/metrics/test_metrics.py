"""Metrics: hand-computed cases, scikit-learn as the oracle, and streaming == whole-epoch."""

import numpy as np
import pytest

import chainrule
from chainrule import metrics as M


@pytest.fixture(scope="module")
def skm():
    """scikit-learn's metrics, the oracle (imported by the tests that use it only)."""
    import sklearn.metrics

    return sklearn.metrics


def test_hand_computed_classification():
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0, 1]
    # confusion: rows true, cols predicted
    cm = M.confusion_matrix(y_true, y_pred)
    assert cm.tolist() == [[1, 1, 0], [1, 2, 0], [0, 1, 0]]
    assert M.accuracy(y_true, y_pred) == 0.5
    # per class precision: 0: 1/2, 1: 2/4, 2: 0 (never predicted -> zero_division 0)
    np.testing.assert_allclose(M.precision(y_true, y_pred, average=None), [0.5, 0.5, 0.0])
    np.testing.assert_allclose(M.recall(y_true, y_pred, average=None), [0.5, 2 / 3, 0.0])
    # F1 = 2tp / (2tp + fp + fn): 0: 2/4, 1: 4/7, 2: 0
    np.testing.assert_allclose(M.f1_score(y_true, y_pred, average=None), [0.5, 4 / 7, 0.0])
    assert M.f1_score(y_true, y_pred, average="macro") == pytest.approx((0.5 + 4 / 7) / 3)
    assert M.f1_score(y_true, y_pred, average="weighted") == pytest.approx(
        (2 * 0.5 + 3 * 4 / 7) / 6)
    assert M.precision(y_true, y_pred, average="micro") == 0.5  # = accuracy for single-label
    assert M.precision([0, 1, 1], [1, 1, 0]) == 0.5  # binary, pos_label=1
    assert M.recall([0, 1, 1], [1, 1, 0], zero_division=1.0) == 0.5
    assert M.recall([0, 0], [0, 0], zero_division=1.0) == 1.0  # no positives at all


def test_predictions_as_scores_and_probabilities():
    scores = chainrule.tensor([[2.0, 1.0, 0.0], [0.0, 0.1, 3.0], [0.0, 5.0, 1.0]])
    assert M.accuracy(chainrule.tensor([0, 2, 2]), scores) == pytest.approx(2 / 3)
    probs = np.array([0.2, 0.7, 0.5, 0.9])
    assert M.accuracy([0, 1, 0, 1], probs) == 0.75  # cut at 0.5
    assert M.accuracy([0, 1, 0, 1], probs[:, None], threshold=0.6) == 1.0
    assert M.accuracy([0.0, 1.0, 2.0], [0.0, 1.0, 1.0]) == pytest.approx(2 / 3)  # float labels
    with pytest.raises(ValueError, match=r"y_true of shape \(3,\) does not match"):
        M.accuracy([0, 1, 2], [0, 1])


def test_top_k_accuracy(skm):
    scores = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    assert M.top_k_accuracy([2, 1, 0], scores, k=1) == 0.0
    assert M.top_k_accuracy([2, 1, 0], scores, k=2) == pytest.approx(2 / 3)
    assert M.top_k_accuracy([2, 1, 0], scores, k=3) == 1.0
    rng = np.random.default_rng(0)
    s, t = rng.random((200, 7)), rng.integers(0, 7, 200)
    for k in (1, 2, 5):
        assert M.top_k_accuracy(t, s, k) == pytest.approx(
            skm.top_k_accuracy_score(t, s, k=k, labels=np.arange(7)))


@pytest.mark.parametrize("seed", range(4))
def test_classification_against_sklearn(seed, skm):
    rng = np.random.default_rng(seed)
    n_classes = 2 + seed
    t = rng.integers(0, n_classes, 300)
    p = np.where(rng.random(300) < 0.6, t, rng.integers(0, n_classes, 300))
    if seed == 3:
        p[p == 4] = 0  # a class that is never predicted
    assert M.accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    np.testing.assert_array_equal(M.confusion_matrix(t, p), skm.confusion_matrix(t, p))
    averages = ["micro", "macro", "weighted", None] + (["binary"] if n_classes == 2 else [])
    for ours, theirs in [(M.precision, skm.precision_score), (M.recall, skm.recall_score),
                         (M.f1_score, skm.f1_score)]:
        for avg in averages:
            np.testing.assert_allclose(ours(t, p, average=avg),
                                       theirs(t, p, average=avg, zero_division=0),
                                       err_msg=f"{ours.__name__} {avg}")


def test_labels_argument_like_sklearn(skm):
    t, p = [0, 1, 2, 2, 3], [0, 2, 2, 1, 3]
    np.testing.assert_array_equal(M.confusion_matrix(t, p, labels=[2, 0, 1]),
                                  skm.confusion_matrix(t, p, labels=[2, 0, 1]))
    assert M.f1_score(t, p, average="macro", labels=[0, 1, 2, 5]) == pytest.approx(
        skm.f1_score(t, p, average="macro", labels=[0, 1, 2, 5], zero_division=0))
    st, sp = ["cat", "dog", "dog"], ["cat", "cat", "dog"]
    np.testing.assert_array_equal(M.confusion_matrix(st, sp), skm.confusion_matrix(st, sp))


def test_binary_errors():
    with pytest.raises(ValueError, match="multiclass.*average='binary'"):
        M.precision([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="pos_label=1 is not a valid label"):
        M.recall([0, 2], [2, 0])
    with pytest.raises(ValueError, match="average must be one of"):
        M.f1_score([0, 1], [0, 1], average="samples")


def test_regression_against_sklearn(skm):
    rng = np.random.default_rng(1)
    t = rng.normal(size=(50, 3))
    p = t + rng.normal(scale=0.5, size=(50, 3))
    for ours, theirs in [(M.mean_squared_error, skm.mean_squared_error),
                         (M.mean_absolute_error, skm.mean_absolute_error),
                         (M.r2_score, skm.r2_score)]:
        assert ours(t, p) == pytest.approx(theirs(t, p))
        assert ours(t[:, 0], p[:, 0]) == pytest.approx(theirs(t[:, 0], p[:, 0]))
    # (N,) against (N, 1) is matched, not broadcast to (N, N)
    assert M.mean_squared_error(t[:, 0], p[:, :1]) == pytest.approx(
        skm.mean_squared_error(t[:, 0], p[:, 0]))
    assert M.r2_score([1.0, 1.0], [1.0, 1.0]) == skm.r2_score([1.0, 1.0], [1.0, 1.0]) == 1.0
    assert M.r2_score([1.0, 1.0], [1.0, 2.0]) == skm.r2_score([1.0, 1.0], [1.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match=r"mean_squared_error: y_true of shape \(3,\)"):
        M.mean_squared_error([1.0, 2.0, 3.0], [1.0, 2.0])


def batches(*arrays, sizes=(7, 1, 30, 12)):
    start = 0
    for s in sizes:
        yield tuple(a[start:start + s] for a in arrays)
        start += s


def test_streaming_equals_whole_epoch(skm):
    rng = np.random.default_rng(2)
    t = rng.integers(0, 4, 50)
    scores = rng.normal(size=(50, 4)) + 2.0 * np.eye(4)[t]
    p = scores.argmax(1)
    objs = [M.Accuracy(), M.TopKAccuracy(2), M.Precision("macro"), M.Recall("weighted"),
            M.F1Score("micro"), M.F1Score("macro"), M.F1Score(None), M.ConfusionMatrix()]
    for tb, sb in batches(t, scores):
        for m in objs:
            m.update(chainrule.tensor(tb), chainrule.tensor(sb))
    assert objs[0].compute() == pytest.approx(skm.accuracy_score(t, p))
    assert objs[1].compute() == pytest.approx(skm.top_k_accuracy_score(t, scores, k=2))
    assert objs[2].compute() == pytest.approx(skm.precision_score(t, p, average="macro"))
    assert objs[3].compute() == pytest.approx(skm.recall_score(t, p, average="weighted"))
    assert objs[4].compute() == pytest.approx(skm.f1_score(t, p, average="micro"))
    assert objs[5].compute() == pytest.approx(skm.f1_score(t, p, average="macro"))
    np.testing.assert_allclose(objs[6].compute(), skm.f1_score(t, p, average=None))
    np.testing.assert_array_equal(objs[7].compute(), skm.confusion_matrix(t, p))
    for m in objs:
        m.reset()
    assert np.isnan(objs[0].compute())


def test_streaming_is_not_a_mean_of_batch_means(skm):
    acc = M.Accuracy()
    acc.update([0], [0])  # batch accuracy 1.0
    acc.update([0, 0, 0], [1, 1, 1])  # batch accuracy 0.0
    assert acc.compute() == 0.25  # the mean of batch means would be 0.5
    f1 = M.F1Score("macro")
    f1.update([0, 1], [0, 1])
    f1.update([1, 1, 1, 1], [0, 0, 0, 1])
    assert f1.compute() == pytest.approx(skm.f1_score([0, 1, 1, 1, 1, 1], [0, 1, 0, 0, 0, 1],
                                                      average="macro"))


def test_streaming_regression_and_stability(skm):
    rng = np.random.default_rng(3)
    t = 1e8 + rng.normal(size=(49, 2))  # a large mean: sum(y^2) - n mean^2 would cancel
    p = t + 0.3 * rng.normal(size=(49, 2))
    objs = [M.MeanSquaredError(), M.MeanAbsoluteError(), M.R2Score()]
    for tb, pb in batches(t, p):
        for m in objs:
            m.update(tb, pb)
    assert objs[0].compute() == pytest.approx(skm.mean_squared_error(t, p), rel=1e-9)
    assert objs[1].compute() == pytest.approx(skm.mean_absolute_error(t, p), rel=1e-9)
    assert objs[2].compute() == pytest.approx(skm.r2_score(t, p), rel=1e-6)


def test_function_metric_sees_the_whole_epoch():
    m = M.get_metric(lambda t, p: float(len(t)))
    for tb, pb in batches(np.arange(50), np.arange(50)):
        m.update(tb, pb)
    assert m.compute() == 50.0 and m.name == "<lambda>"


def test_get_metric_names():
    assert isinstance(M.get_metric("accuracy"), M.Accuracy)
    assert M.get_metric("top3_accuracy").k == 3 and M.get_metric("top_k_accuracy").k == 5
    f1 = M.get_metric("macro_f1")
    assert isinstance(f1, M.F1Score) and f1.average == "macro" and f1.name == "macro_f1"
    assert M.get_metric("weighted_precision").name == "weighted_precision"
    assert M.get_metric("recall").average == "binary"
    assert isinstance(M.get_metric("r2"), M.R2Score) and M.get_metric("mae").name == "mae"
    obj = M.Accuracy()
    assert M.get_metric(obj) is obj
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        M.get_metric("f2")
