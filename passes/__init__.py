"""snnc's passes: graph-to-graph transformations run by a :class:`PassManager`.

Public API::

    from snnc.passes import run_pipeline, PassContext
    g2, report = run_pipeline(g, "canonicalize,fold-batchnorm,lower-activations{neuron=if}")

Writing a pass: a frozen dataclass deriving :class:`Pass`, decorated with
:func:`register_pass` (see :mod:`snnc.passes.base` and ``examples/custom_pass.py``). A
plugin file loaded with :func:`load_pass_file` (``--load-pass``) may also define neurons
(``@snnc.ir.neurons.register_neuron``): ``lower-activations`` and ``normalize-rates``
read everything about a neuron from that catalogue.

Built-in passes (one module each): ``canonicalize``, ``fold-batchnorm``,
``lower-activations``, ``fuse-bias``, ``normalize-rates``. Default pipelines belong to the
targets (``snnc.codegen``), not to this package; :func:`with_options` edits a pipeline.
"""

# the built-in passes register themselves on import
from snnc.passes import (  # noqa: F401
    canonicalize,
    fold_batchnorm,
    fuse_bias,
    legalize_loihi,
    lower_activations,
    max_to_avg_pool,
    normalize_rates,
    quantize,
)
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
from snnc.passes.lower_activations import NeuronSpec
from snnc.passes.manager import PassManager, PassRecord, PipelineReport, run_pipeline
from snnc.passes.pipeline import (
    format_pipeline,
    parse_pipeline,
    with_options,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "PASSES",
    "NeuronSpec",
    "Pass",
    "PassContext",
    "PassManager",
    "PassRecord",
    "PassResult",
    "PipelineReport",
    "all_passes",
    "format_pipeline",
    "get_pass",
    "load_pass_file",
    "load_plugins",
    "option",
    "parse_pipeline",
    "register_pass",
    "run_pipeline",
    "with_options",
]
