"""The ``nir`` target: a compiled SNN written as a NIR file instead of a nengo network.

It uses the seam every backend plugs into (:meth:`Target.emit` returns an
:class:`~snnc.codegen.target.FileArtifact`): ``snnc compile model.keras --target nir -o out/``
runs the target's pipeline and writes ``out/model.nir`` beside ``model.snnc``, so the same
model reaches the simulators and chips that read NIR (Lava/Loihi 2, SpiNNaker2, Speck, Xylo,
Norse, snnTorch, sinabs, ...). The translation, its formulas and its refusals live in
:mod:`snnc.nir`; ``snnc export`` writes the same file from any compiled model.

NIR's IF integrates its input current as it is, while snnc's IF (nengo's
SpikingRectifiedLinear) integrates ``max(J, 0)``; the target allows that one named
approximation (``rectified-current``) and says so in the compile report. Every other
difference (refractory period, voltage floor, initial voltage) is refused, naming the node.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from snnc.codegen.target import FileArtifact, Target, register_target

#: the file the target writes
NIR_FILE = "model.nir"


@dataclass(frozen=True)
class NirTarget(Target):
    """A backend that writes ``model.nir`` (see the module docstring)."""

    #: the named approximations (:data:`snnc.nir.APPROXIMATIONS`) this target allows
    approximate: tuple[str, ...] = ("rectified-current",)

    def supports(self, graph, node):
        # which ops and neurons NIR can express is the exporter's decision: it refuses
        # every such node at once, naming each, when emit() runs
        return None

    def emit(self, graph) -> FileArtifact:
        import nir

        from snnc.nir import to_nir

        buf = io.BytesIO()
        nir.write(buf, to_nir(graph, approximate=",".join(self.approximate)))
        return FileArtifact({NIR_FILE: buf.getvalue()})

    def read_artifact(self, folder) -> FileArtifact:
        return FileArtifact.read(folder, [NIR_FILE])


def _report(compiled) -> list[str]:
    from snnc.nir.common import APPROXIMATIONS

    lines = ["", f"NIR file: {NIR_FILE} ({len(compiled.artifact.contents[NIR_FILE])} bytes)"]
    for name in NIR.approximate:
        lines.append(f"approximation allowed: {name}: {APPROXIMATIONS[name]}")
    return lines


NIR = register_target(
    NirTarget(
        name="nir",
        description="the Neuromorphic Intermediate Representation: writes model.nir for "
        "NIR tools (Lava, SpiNNaker2, Speck, Xylo, Norse, snnTorch, sinabs)",
        default_pipeline="canonicalize,fold-batchnorm,lower-activations{neuron=if},fuse-bias,normalize-rates",
        backend="nir",
        validate=_report,
    )
)
