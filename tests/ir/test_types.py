import pytest

from snnc.ir.types import F32, SPIKE, QInt, TensorType, parse_dtype, parse_type


@pytest.mark.parametrize("text", ["f32[8,8,1]", "spike[576]", "q8e-4[10]", "f32[]", "q1e0[2,3]"])
def test_type_text_round_trip(text):
    assert str(parse_type(text)) == text


def test_type_properties():
    t = TensorType((2, 3, 4))
    assert t.rank == 3 and t.size == 24 and t.dtype == F32
    assert t.with_dtype(SPIKE) == TensorType((2, 3, 4), SPIKE)
    assert QInt(8, -3).is_quantized and not F32.is_quantized and SPIKE.is_spike


@pytest.mark.parametrize("bad", ["f64[2]", "f32(2)", "f32[a]", "q0e1[2]"])
def test_bad_types_are_rejected(bad):
    with pytest.raises(ValueError):
        parse_type(bad)


def test_bad_dtype_message_says_what_works():
    with pytest.raises(ValueError, match="expected f32, spike, spike<bits>, q<bits>e<exp>"):
        parse_dtype("int8")
