import numpy as np
import pytest
from ir_graphs import cnn, mlp

from snnc.errors import IRError
from snnc.ir import Graph, Stage, neurons, ops, verify


def test_add_infers_types_and_orders_ports():
    g = mlp()
    assert str(g.type("dense")) == "f32[5]"
    assert g.inputs_of("output") == ["out"]
    assert g.users("dense") == [("dense.act", 0)]
    assert g.inputs == ["input"] and g.outputs == ["output"]
    verify(g)


def test_add_rejects_duplicates_unknown_inputs_and_type_errors():
    g = mlp()
    with pytest.raises(IRError, match="already exists"):
        g.add("dense", ops.Identity(), ["input"])
    with pytest.raises(IRError, match="'nope' does not exist"):
        g.add("x", ops.Identity(), ["nope"])
    with pytest.raises(IRError, match=r"input f32\[5\] does not match weight \[3,2\] \(expected last dim 3\)"):
        g.add("bad", ops.Dense(weight=np.ones((3, 2))), ["dense"])
    assert "bad" not in g  # nothing half-added


def test_insert_after_moves_users_and_keeps_synapses():
    g = cnn()
    g.insert_after("conv1.act", "conv1.act.id", ops.Identity())
    assert g.inputs_of("pool") == ["conv1.act.id"]
    assert g.synapse("conv1.act.id", "pool", 0) == 0.005
    verify(g)


def test_bypass_and_erase():
    g = mlp()
    g.insert_after("dense.act", "drop", ops.Identity())
    g.bypass("drop")
    assert "drop" not in g and g.inputs_of("out") == ["dense.act"]
    with pytest.raises(IRError, match="still used by"):
        g.erase("dense")
    verify(g)


def test_replace_op_retypes_users_and_names_the_one_that_breaks():
    g = mlp()
    with pytest.raises(IRError, match="node 'out'"):
        g.replace_op("dense", ops.Dense(weight=np.ones((4, 6))))  # 'out' expects 5 inputs


def test_rewrite_scope_retypes_once_at_the_end():
    g = mlp()
    with g.rewrite():
        g.replace_op("dense", ops.Dense(weight=np.ones((4, 6))))
        g.replace_op("out", ops.Dense(weight=np.ones((6, 3))))
    assert g.type("dense").shape == (6,) and g.type("output").shape == (3,)
    verify(g)


def test_incremental_retyping_is_linear_in_a_long_chain():
    # 5000 ReLU-like nodes replaced one by one: each replacement re-types only what changes
    import time

    g = Graph("chain")
    prev = g.add("x", ops.Input(shape=(4,)))
    for i in range(5000):
        prev = g.add(f"n{i}", ops.Identity(), [prev])
    g.add("y", ops.Output(), [prev])
    t = time.perf_counter()
    for i in range(5000):
        g.replace_op(f"n{i}", ops.Flatten())
    assert time.perf_counter() - t < 5.0
    verify(g)


def test_set_edge_synapse_changes_spike_types_downstream():
    g = cnn()
    assert g.type("pool").dtype.kind == "f32"
    g.set_edge("conv1.act", "pool", 0, synapse=None)
    assert g.type("pool").dtype.kind == "f32"  # avg pool always yields real values
    g2 = Graph("s")
    g2.add("input", ops.Input(shape=(3,)))
    g2.add("n", neurons.IF(), ["input"])
    g2.add("f", ops.Flatten(), ["n"])
    g2.add("output", ops.Output(), ["f"])
    assert g2.type("f").dtype.is_spike
    g2.set_edge("n", "f", 0, synapse=0.01)
    assert not g2.type("f").dtype.is_spike and not g2.type("output").dtype.is_spike


def test_copy_is_independent_and_fingerprint_tracks_content():
    g = mlp()
    c = g.copy()
    assert c.structurally_equal(g) and c.fingerprint() == g.fingerprint()
    c.set_meta("dense", note="x")
    assert "note" not in g.meta("dense") and c.fingerprint() == g.fingerprint()  # meta ignored
    c.replace_op("dense.act", ops.ReLU(max_value=6.0))
    assert not c.structurally_equal(g) and c.fingerprint() != g.fingerprint()


def test_topo_order_is_stable_insertion_order():
    g = Graph("t")
    g.add("input", ops.Input(shape=(2,)))
    g.add("b", ops.Identity(), ["input"])
    g.add("a", ops.Identity(), ["input"])
    g.add("sum", ops.Add(), ["b", "a"])
    g.add("output", ops.Output(), ["sum"])
    assert g.topo_order() == ["input", "b", "a", "sum", "output"]


def test_stage_is_derived_from_ops():
    assert mlp().stage is Stage.ANN
    assert cnn().stage is Stage.SNN


def test_remove_dead_and_change_log():
    g = mlp()
    g.add("dangling", ops.Identity(), ["dense"])
    assert g.remove_dead() == ["dangling"]
    actions = [c.action for c in g.changes]
    assert actions.count("add") == 6 and actions[-1] == "erase"


def test_bypass_refuses_to_merge_two_synapses():
    g = cnn()
    g.insert_after("pool", "id", ops.Identity(), synapse=None)
    g.set_edge("id", "flatten", 0, synapse=0.01)
    g.set_edge("pool", "id", 0, synapse=0.02)
    with pytest.raises(IRError, match="synapses on both sides"):
        g.bypass("id")


def test_replace_op_retypes_users():
    g = mlp()
    g.replace_op("out", ops.Dense(weight=np.ones((5, 7))))
    assert g.type("output").shape == (7,)
