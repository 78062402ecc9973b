"""snnc's passes: graph-to-graph transformations run by a :class:`PassManager`.

Public API::

    from snnc.passes import run_pipeline, PassContext
    g2, report = run_pipeline(g, "canonicalize,fold-batchnorm,lower-activations{neuron=if}")

Writing a pass: a frozen dataclass deriving :class:`Pass`, decorated with
:func:`register_pass` (see :mod:`snnc.passes.base` and ``examples/custom_pass.py``).

Built-in passes (one module each): ``canonicalize``, ``fold-batchnorm``,
``lower-activations``, ``fuse-bias``, ``normalize-rates``.
"""

# the built-in passes register themselves on import
from snnc.passes import canonicalize, fold_batchnorm, fuse_bias, lower_activations, normalize_rates  # noqa: F401
from snnc.passes.base import (
    ENTRY_POINT_GROUP,
    PASSES,
    Pass,
    PassContext,
    PassResult,
    all_passes,
    get_pass,
    load_pass_file,
    load_plugins,
    option,
    register_pass,
)
from snnc.passes.lower_activations import NEURONS, NeuronSpec
from snnc.passes.manager import PassManager, PassRecord, PipelineReport, run_pipeline
from snnc.passes.pipeline import (
    DEFAULT_PIPELINES,
    default_pipeline,
    format_pipeline,
    parse_pipeline,
)

__all__ = [
    "DEFAULT_PIPELINES",
    "ENTRY_POINT_GROUP",
    "NEURONS",
    "PASSES",
    "NeuronSpec",
    "Pass",
    "PassContext",
    "PassManager",
    "PassRecord",
    "PassResult",
    "PipelineReport",
    "all_passes",
    "default_pipeline",
    "format_pipeline",
    "get_pass",
    "load_pass_file",
    "load_plugins",
    "option",
    "parse_pipeline",
    "register_pass",
    "run_pipeline",
]
