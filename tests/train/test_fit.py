"""fit / evaluate / predict: real data to a stated accuracy, determinism, equality with the
hand-written loop, the forms of data accepted, the progress display and History."""

import io
import subprocess
import sys

import numpy as np
import pytest

import chainrule as torch
from chainrule import nn
from chainrule.data import DataLoader, TensorDataset
from chainrule.data.datasets import Digits
from chainrule.train import History, ProgressBar, evaluate, fit, predict


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def test_digits_mlp_reaches_95_percent():
    train, test = Digits(train=True), Digits(train=False)
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = fit(model, train, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=12,
                  val_data=test, metrics=["accuracy", "macro_f1"], batch_size=32, verbose=0)
    result = evaluate(model, test, loss=nn.CrossEntropyLoss(), metrics=["accuracy"])
    assert result["accuracy"] >= 0.95, result
    assert result["loss"] == pytest.approx(history.history["val_loss"][-1])
    assert list(history.history) == ["loss", "accuracy", "macro_f1", "val_loss",
                                     "val_accuracy", "val_macro_f1", "lr"]
    assert len(history) == 12 and history.history["loss"][-1] < history.history["loss"][0]


def test_same_seed_gives_bitwise_identical_weights():
    def run():
        model = mlp(seed=1)
        fit(model, Digits(train=False), loss="cross_entropy", epochs=2, verbose=0,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
        return {k: v.numpy().copy() for k, v in model.state_dict().items()}

    a, b = run(), run()
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k


def hand_loop(model, X, y, epochs, order, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        perm = order.permutation(len(X))
        for i in range(0, len(perm), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = loss_fn(model(torch.from_numpy(X[idx])), torch.from_numpy(y[idx]))
            loss.backward()
            opt.step()
            loss.item()


def test_fit_is_the_hand_written_loop():
    ds = Digits(train=True)
    X, y = ds.data.numpy(), ds.targets.numpy()
    a, b = mlp(2), mlp(2)
    hand_loop(a, X, y, 2, torch.Generator().manual_seed(7).np, 0.05)
    fit(b, (X, y), loss=nn.CrossEntropyLoss(), epochs=2, verbose=0,
        optimizer=torch.optim.SGD(b.parameters(), lr=0.05),
        generator=torch.Generator().manual_seed(7))
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert va.numpy().tobytes() == vb.numpy().tobytes(), k


def test_data_forms_and_mode_restoring():
    torch.manual_seed(0)
    X = torch.randn(40, 3)
    y = (X[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for data in [(X, y), (X.numpy(), y.numpy()), TensorDataset(X, y),
                 DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True)]:
        h = fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=1, verbose=0,
                val_data=(X, y), metrics=["accuracy"])
        assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    model.train()
    out = predict(model, X)
    assert out.shape == (40, 2) and model.training and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), predict(model, (X, y), batch_size=7).numpy())
    np.testing.assert_array_equal(out.numpy(), predict(model, DataLoader(
        TensorDataset(X), batch_size=9)).numpy())
    model.eval()
    expected = nn.CrossEntropyLoss()(model(X), y).item()
    model.train()
    res = evaluate(model, (X, y), loss="cross_entropy", batch_size=7)
    assert res["loss"] == pytest.approx(expected, rel=1e-6) and model.training


def test_errors_say_what_was_expected():
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    X, y = torch.randn(8, 3), torch.zeros(8).long()
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    with pytest.raises(ValueError, match="is a DataLoader, which has its own batch_size"):
        fit(model, loader, loss="cross_entropy", optimizer=opt, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="loss must be a callable"):
        fit(model, (X, y), loss="crossentropy", optimizer=opt, verbose=0)
    with pytest.raises(ValueError, match="scalar tensor"):
        fit(model, (X, y), loss=nn.CrossEntropyLoss(reduction="none"), optimizer=opt,
            verbose=0)
    with pytest.raises(TypeError, match=r"each batch must be \(input, target\)"):
        fit(model, TensorDataset(X), loss="cross_entropy", optimizer=opt, verbose=0)
    with pytest.raises(TypeError, match=r"a tuple must hold arrays or tensors"):
        fit(model, (X, [0] * 8), loss="cross_entropy", optimizer=opt, verbose=0)
    with pytest.raises(ValueError, match="metric names must be unique"):
        fit(model, (X, y), loss="cross_entropy", optimizer=opt, verbose=0,
            metrics=["acc", "accuracy"])


def small_run(**kwargs):
    torch.manual_seed(0)
    X, y = torch.randn(30, 3), torch.zeros(30).long()
    model = nn.Linear(3, 2)
    return fit(model, (X, y), loss="cross_entropy", batch_size=8, metrics=["accuracy"],
               optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


def test_one_line_per_epoch_when_not_a_terminal(capsys):
    small_run(epochs=3, val_data=(torch.randn(5, 3), torch.zeros(5).long()))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("Epoch 1/3  4 batches")
    for part in ("samples/s", "loss ", "accuracy ", "val_loss ", "val_accuracy ", "lr 0.1"):
        assert part in lines[2]
    small_run(epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("use_tqdm", [False, True])
def test_progress_bar_on_a_terminal(use_tqdm):
    out = Terminal()
    small_run(epochs=2, verbose=0, callbacks=[ProgressBar(stream=out, use_tqdm=use_tqdm,
                                                          refresh=0.0)])
    text = out.getvalue()
    assert "\r" in text and "Epoch 1/2" in text and "Epoch 2/2" in text
    assert "samples/s" in text and "accuracy" in text and "lr 0.1" in text
    if not use_tqdm:
        assert "[====" in text and "4/4" in text
    else:
        assert "4/4 [" in text  # tqdm's bar: "... 4/4 [00:00<00:00, ...batch/s, ...]"


@pytest.mark.parametrize("use_tqdm", [False, True])
def test_an_epoch_shorter_than_the_refresh_gets_its_summary_line_only(use_tqdm):
    out = Terminal()
    small_run(epochs=2, verbose=0, callbacks=[ProgressBar(stream=out, use_tqdm=use_tqdm,
                                                          refresh=60.0)])
    lines = out.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 3
    for epoch, line in enumerate(lines[:2], 1):
        assert line.startswith(f"\rEpoch {epoch}/2  ") and "\r" not in line[1:]
        assert "samples/s" in line and "accuracy" in line and "lr 0.1" in line


def test_history_plot(tmp_path):
    h = small_run(epochs=3, verbose=0, val_data=(torch.randn(5, 3), torch.zeros(5).long()))
    path = h.plot(tmp_path / "curves" / "history.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    with pytest.raises(ValueError, match=r"no values for \['f1'\]"):
        h.plot(tmp_path / "x.png", keys=["f1"])
    with pytest.raises(ValueError, match="no epochs"):
        History().plot(tmp_path / "empty.png")


def test_optional_packages_load_only_when_used():
    code = ("import sys, chainrule; core = sorted(m for m in sys.modules if m.startswith("
            "('chainrule.train', 'chainrule.metrics', 'chainrule.data.datasets')));"
            "import chainrule.train, chainrule.metrics, chainrule.data.datasets;"
            "print(core, sorted(m for m in ('matplotlib', 'tqdm', 'sklearn', 'urllib.request') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[] []"
