"""snnc: compile trained Keras models into spiking neural networks for Nengo's backends.

Public API (stable)::

    g = snnc.load("model.keras")        # -> snnc.ir.Graph
    y = snnc.evaluate(g, x)             # rate-mode reference interpreter
    c = snnc.compile("model.keras", target="nengo", calibration=x)   # -> Compiled
    ys = c.run(x, steps=50)             # (batch, steps, *output_shape)
    r = snnc.verify("model.keras", (x, y), target="loihi", steps=50)   # -> Report

``import snnc`` stays light: TensorFlow, nengo and numba are imported only when a function
needs them.
"""

__version__ = "0.1.0"

_API = ("load", "evaluate", "compile", "simulate", "save", "optimize", "export")


def __getattr__(name):
    # lazy: `import snnc` must not import networkx-heavy or TF-heavy modules up front
    if name in _API:
        from snnc import api

        return getattr(api, name)
    # snnc.verify is a callable module: snnc.verify(model, (x, y), ...) runs the checks
    if name in ("ir", "passes", "codegen", "frontend", "errors", "verify", "sweep", "nir"):
        import importlib

        return importlib.import_module(f"snnc.{name}")
    raise AttributeError(f"module 'snnc' has no attribute {name!r}")


def __dir__():
    return sorted(
        [*globals(), *_API, "ir", "passes", "codegen", "frontend", "errors", "verify", "sweep", "nir"]
    )
