"""Full training steps, optimizer update included (issue 5): ``opt.zero_grad()``, forward,
cross-entropy, ``backward()``, ``opt.step()``.

The models, weights and data are those of issue 3's steps (``mlp.py``: the 784-512-256-10 MLP
at batch 128; ``cnn.py``: LeNet-5 and the CIFAR CNN at batch 64), each trained with
``SGD(lr=0.01, momentum=0.9)`` and with ``Adam(lr=1e-3)``. The bars are those of the
corresponding step without the update (MLP 1.1, CNNs 1.5); the update alone is judged in
``optim.py``. The same batch is used at every step, so the weights keep changing the same way
in both frameworks.
"""

from __future__ import annotations

from harness import Workload, framework, register

from workloads import cnn, mlp

MLP_SIZES, MLP_BATCH = (784, 512, 256, 10), 128
OPTIMIZERS = {"sgd": ("SGD", {"lr": 0.01, "momentum": 0.9}), "adam": ("Adam", {"lr": 1e-3})}


def _setup(lib_name: str, model_name: str, optimizer: str):
    def setup():
        lib = framework(lib_name)
        if model_name == "mlp":
            model, xt, yt = mlp.problem(lib, MLP_SIZES, MLP_BATCH)
        else:
            model, xt, yt = cnn.problem(lib, model_name)
        opt_class, options = OPTIMIZERS[optimizer]
        opt = getattr(lib.optim, opt_class)(model.parameters(), **options)
        cross_entropy = lib.nn.functional.cross_entropy

        def step():
            opt.zero_grad()
            cross_entropy(model(xt), yt).backward()
            opt.step()

        return step

    return setup


_MODELS = {  # name in the table: (model, bar, what)
    f"mlp_784_512_256_10_b{MLP_BATCH}": ("mlp", 1.1, "784-512-256-10 MLP"),
    f"lenet5_b{cnn.BATCH}": ("lenet5", 1.5, "LeNet-5"),
    f"cnn_cifar_b{cnn.BATCH}": ("cnn_cifar", 1.5, "CIFAR CNN"),
}

for _label, (_model, _bar, _what) in _MODELS.items():
    for _opt, (_class, _options) in OPTIMIZERS.items():
        _args = ", ".join(f"{k}={v}" for k, v in _options.items())
        register(Workload(
            name=f"train_{_label}_{_opt}",
            chainrule=_setup("chainrule", _model, _opt),
            torch=_setup("torch", _model, _opt),
            bar=_bar,
            description=f"{_what}: zero_grad + forward + cross_entropy + backward + "
                        f"{_class}({_args}).step(); bar as the step without update",
        ))
