"""One broken graph per verifier rule; each error names the rule, the node and a hint."""

import numpy as np
import pytest
from ir_graphs import cnn, mlp

from snnc.errors import IRVerifyError
from snnc.ir import neurons, ops, verify
from snnc.ir.types import TensorType
from snnc.ir.verifier import RULES


def broken(rule):
    g = mlp()
    if rule == "dt":
        g.dt = 0.0
    elif rule == "acyclic":
        g.nx.add_edge("dense.act", "dense", key=1, synapse=None)
    elif rule == "io":
        g.nx.nodes["output"]["op"] = ops.Output(index=1)
    elif rule == "dead-node":
        g.add("dangling", ops.Identity(), ["dense"])
    elif rule == "schema":
        g.nx.nodes["dense"]["extra"] = 1
    elif rule == "ports":
        g.nx.add_edge("input", "out", key=3, synapse=None)
    elif rule == "op":
        g.nx.nodes["out"]["op"] = ops.Dense(weight=np.full((5, 3), np.inf))
    elif rule == "type":
        g.nx.nodes["dense"]["type"] = TensorType((7,))
    elif rule == "synapse":
        g.set_edge("dense", "dense.act", 0, synapse=-1.0)
    elif rule == "stage":
        g.insert_after("dense.act", "extra", neurons.IF())
    return g


@pytest.mark.parametrize("rule", RULES)
def test_every_rule_has_a_failing_graph(rule):
    g = broken(rule)
    with pytest.raises(IRVerifyError) as err:
        verify(g)
    assert err.value.rule == rule
    assert f"[{rule}]" in str(err.value) and "graph @mlp" in str(err.value)


@pytest.mark.parametrize(
    "rule, node, text",
    [
        ("dead-node", "dangling", "does not reach any output"),
        ("op", "out", "non-finite"),
        ("type", "dense", "stored type f32[7] differs from the inferred type f32[5]"),
        ("synapse", "dense.act", "not a positive time constant"),
        ("stage", "dense.act", "half-lowered"),
    ],
)
def test_messages_name_node_print_its_line_and_hint(rule, node, text):
    with pytest.raises(IRVerifyError) as err:
        verify(broken(rule))
    msg = str(err.value)
    assert err.value.node == node and f"node %{node}" in msg and text in msg
    assert f"%{node} = " in msg  # the node's IR line
    assert "hint:" in msg or rule in ("op", "dead-node") or err.value.hint


def test_valid_graphs_pass():
    verify(mlp())
    verify(cnn())


def test_spike_values_only_from_spiking_neurons():
    g = cnn()
    g.nx.nodes["flatten"]["type"] = g.type("flatten").with_dtype(g.type("conv1.act").dtype)
    with pytest.raises(IRVerifyError) as err:
        verify(g)
    assert err.value.rule in ("type", "stage")


def test_missing_input_or_output_is_an_io_error():
    g = mlp()
    g.nx.nodes["output"]["op"] = ops.Identity()
    with pytest.raises(IRVerifyError, match=r"\[io\] the graph has no nn.output node"):
        verify(g)
