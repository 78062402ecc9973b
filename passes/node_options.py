"""Per-node pass options: one value for the whole graph, or a value per node by name.

Several options of the SNN passes may differ between layers: the neuron and the synapse
``lower-activations`` gives each ReLU, the initial voltage of its neurons, the calibration
percentile and the firing-rate factor ``normalize-rates`` gives each neuron. They all share
one readable syntax::

    lower-activations{synapse={dense*:0.005}}            # a synapse after the dense layers only
    normalize-rates{percentile={conv1:99.99,*:99.9}}     # conv1 keeps more of its range
    lower-activations{neuron=if,v_init=0.5}              # one value: every node

A mapping is ``{key:value,...}``; keys are tried in order and the first that matches a node
gives its value. A key matches by exact name or glob pattern (``fnmatch``: ``*``, ``?``,
``[...]``) on any of the names a pass knows the node by (its own name, the Keras layer it
came from, its input: see :func:`relu_names` and :func:`neuron_names`), or, where the pass
offers it, by activation kind (``relu``, ``clipped-relu``, ``leaky-relu``). A node that no
key matches gets the option's own default (``*`` as the last key sets another one). Keys may
be quoted (``{"conv*":0.5}``); from Python, a dict works too
(``NormalizeRates(percentile={"conv1": 99.99})``).

:class:`NodeMap` is the base class; a subclass declares how one value is read, checked and
printed. A pass option whose type is a NodeMap subclass accepts a single value, the mapping
text or a mapping, and ``str()`` gives the pipeline text back (a single value prints bare).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, ClassVar

import numpy as np

from snnc.ir import Graph
from snnc.ir.lexer import Cursor, format_literal

#: suffixes ``lower-activations`` gives the neurons of a clipped / leaky ReLU's pieces
PIECE_SUFFIXES = (".pos", ".sat", ".neg")


@dataclass(frozen=True)
class NodeMap:
    """Ordered ``(key, value)`` rules giving a value per node (see the module docstring).

    Subclasses set :attr:`default` (the value of nodes no key matches), :attr:`words` (bare
    words read as values, e.g. ``none``) and override :meth:`check_value`.
    """

    rules: tuple[tuple[str, Any], ...]

    #: the value of a node that no key matches
    default: ClassVar[Any] = None
    #: bare words that read as values (``{"none": None}``); printed back as the word
    words: ClassVar[dict[str, Any]] = {}
    #: the expected value in words, for error messages and ``snnc passes``
    value_text: ClassVar[str] = "a value"

    # ------------------------------------------------------------------ one value
    @classmethod
    def check_value(cls, value: Any) -> Any:
        """The normalised value, or ValueError when it is not valid (subclasses)."""
        return value

    @classmethod
    def read_value(cls, text: str) -> Any:
        """A value from pipeline text: a word of :attr:`words`, else a literal."""
        text = _unquote(text)
        if text in cls.words:
            return cls.check_value(cls.words[text])
        cur = Cursor(text, ValueError)
        try:
            value = cur.literal()
        except ValueError:
            raise ValueError(f"expected {cls.value_text}, got {text!r}") from None
        if not cur.at_end():
            raise ValueError(f"expected {cls.value_text}, got {text!r}")
        return cls.check_value(value)

    @classmethod
    def show_value(cls, value: Any) -> str:
        for word, v in cls.words.items():
            if v == value and type(v) is type(value):
                return word
        return format_literal(value)

    # ------------------------------------------------------------------ the option
    @classmethod
    def option_type(cls) -> str:
        """The expected option value in words."""
        return f"{cls.value_text} or {{key:value,...}}"

    @classmethod
    def from_option(cls, value) -> NodeMap:
        """Build from pipeline text (one value or ``{key:value,...}``), a Python value or a
        mapping; raises ValueError / TypeError saying what is wrong."""
        if isinstance(value, cls):
            return value
        if isinstance(value, NodeMap):
            value = dict(value.rules)
        if isinstance(value, str):
            text = value.strip()
            if not text.startswith("{") and text.endswith("}"):
                raise ValueError(f"mapping {text!r} lacks its opening '{{'")
            if not text.startswith("{"):
                return cls((("*", cls.read_value(text)),))
            pairs = [(k, cls.read_value(v)) for k, v in _split_mapping(text)]
        elif isinstance(value, Mapping):
            pairs = []
            for k, v in value.items():
                if not isinstance(k, str) or not k.strip():
                    raise ValueError(f"mapping key {k!r} is not a node name or pattern")
                pairs.append(
                    (k.strip(), cls.read_value(v) if isinstance(v, str) else cls.check_value(v))
                )
        else:
            return cls((("*", cls.check_value(value)),))
        if not pairs:
            raise ValueError("the mapping is empty")
        return cls(tuple(pairs))

    def __str__(self) -> str:
        if len(self.rules) == 1 and self.rules[0][0] == "*":
            return self.show_value(self.rules[0][1])
        return "{" + ",".join(f"{_show_key(k)}:{self.show_value(v)}" for k, v in self.rules) + "}"

    # ------------------------------------------------------------------ lookup
    def lookup(self, names, kinds=()) -> tuple[Any, str | None]:
        """``(value, matching key)`` for a node known by ``names`` (and activation
        ``kinds``); the key is None when no rule matched and :attr:`default` applies."""
        for key, value in self.rules:
            if key in kinds or any(fnmatchcase(n, key) for n in names):
                return value, key
        return self.default, None

    def get(self, names, kinds=()) -> Any:
        """The value for a node known by ``names`` (see :meth:`lookup`)."""
        return self.lookup(names, kinds)[0]

    @property
    def values(self) -> tuple:
        """Every value this map may give, the default included."""
        out = []
        for v in (*(v for _, v in self.rules), self.default):
            if v not in out:
                out.append(v)
        return tuple(out)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.rules)

    @property
    def uniform(self) -> bool:
        """One value for every node (``*`` only)."""
        return len(self.rules) == 1 and self.rules[0][0] == "*"


def _unquote(text) -> str:
    """Strip spaces and one pair of quotes (``{"conv*":lif}`` reads like ``{conv*:lif}``)."""
    if not isinstance(text, str):
        return text
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _show_key(key: str) -> str:
    # a key holding the mapping's own punctuation is printed quoted (and read back unquoted)
    return format_literal(key) if any(c in key for c in ',:{}"') else key


def _split_mapping(text: str) -> list[tuple[str, str]]:
    """``{k:v,...}`` as raw ``(key, value text)`` pairs (keys unquoted)."""
    cur = Cursor(text, ValueError)
    cur.expect("{")
    pairs: list[tuple[str, str]] = []
    while not cur.accept("}"):
        if cur.at_end():
            raise ValueError(f"mapping {text!r} lacks its closing '}}'")
        key_text = cur.balanced(":,}")
        if not cur.accept(":") or not key_text:
            raise ValueError(f"mapping entry {key_text or text!r} is not key:value")
        value_text = cur.balanced(",}")
        if not value_text:
            raise ValueError(f"mapping entry {key_text!r} has no value")
        pairs.append((_unquote(key_text), value_text))
        if not cur.accept(","):
            cur.expect("}")
            break
    if not cur.at_end():
        raise ValueError(f"unexpected text after the mapping {text!r}")
    return pairs


# =============================================================================== value types


def _number(value, what: str) -> float:
    """``value`` as a finite float (ints and numpy numbers too, not bools)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"expected {what}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"expected {what}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class PercentileMap(NodeMap):
    """Percentiles in (0, 100] per node (``normalize-rates{percentile=...}``)."""

    default: ClassVar[float] = 99.9
    value_text: ClassVar[str] = "a percentile in (0, 100]"

    @classmethod
    def check_value(cls, value):
        v = _number(value, cls.value_text)
        if not 0 < v <= 100:
            raise ValueError(f"expected {cls.value_text}, got {value!r}")
        return v


#: the word for "the neuron's maximal useful rate" in ``normalize-rates{rate=...}``
MAX_RATE = "max"


@dataclass(frozen=True)
class RateMap(NodeMap):
    """Target firing rates per node: ``max`` (the neuron's maximal useful rate) or Hz."""

    default: ClassVar[Any] = MAX_RATE
    words: ClassVar[dict[str, Any]] = {MAX_RATE: MAX_RATE}
    value_text: ClassVar[str] = "max or a rate > 0 (Hz)"

    @classmethod
    def check_value(cls, value):
        if value == MAX_RATE:
            return MAX_RATE
        v = _number(value, cls.value_text)
        if v <= 0:
            raise ValueError(f"expected {cls.value_text}, got {value!r}")
        return v


@dataclass(frozen=True)
class _PositiveOrNoneMap(NodeMap):
    """Values > 0 per node, or ``none`` (also allowed as a mapping value)."""

    default: ClassVar[Any] = None
    words: ClassVar[dict[str, Any]] = {"none": None}

    @classmethod
    def check_value(cls, value):
        if value is None:
            return None
        v = _number(value, cls.value_text)
        if v <= 0:
            raise ValueError(f"expected {cls.value_text}, got {value!r}")
        return v


@dataclass(frozen=True)
class ScaleMap(_PositiveOrNoneMap):
    """Fixed firing-rate factors per node (> 0), or ``none`` (not fixed; also allowed as a
    mapping value). Declare the option ``ScaleMap | None``."""

    value_text: ClassVar[str] = "a factor > 0"


@dataclass(frozen=True)
class SynapseMap(_PositiveOrNoneMap):
    """Lowpass time constants (s, > 0) per node, or ``none`` (no synapse; also allowed as a
    mapping value: ``{dense*:0.005,*:none}``). Declare the option ``SynapseMap | None``."""

    value_text: ClassVar[str] = "a time constant > 0 in seconds"


@dataclass(frozen=True)
class FractionMap(NodeMap):
    """Fractions of the threshold in [0, 1) per node (initial membrane voltages)."""

    default: ClassVar[float] = 0.0
    value_text: ClassVar[str] = "a fraction in [0, 1)"

    @classmethod
    def check_value(cls, value):
        v = _number(value, cls.value_text)
        if not 0 <= v < 1:
            raise ValueError(f"expected {cls.value_text}, got {value!r}")
        return v


# =============================================================================== node names


def relu_names(g: Graph, n: str) -> tuple[str, ...]:
    """The names a ReLU node answers to: its own, without a ``.act`` suffix (``conv1`` for
    the fused ``conv1.act``), and its input's."""
    return tuple(dict.fromkeys((n, n.removesuffix(".act"), g.inputs_of(n)[0])))


def neuron_names(g: Graph, n: str) -> tuple[str, ...]:
    """The names a neuron node answers to: its own, the ReLU it was lowered from (``conv1.act``
    for the pieces ``conv1.act.pos/.sat/.neg`` of a clipped or leaky ReLU), that name without
    ``.act``, and its input's. Read from the names alone, so parsed text works too."""
    base = n
    for suffix in PIECE_SUFFIXES:
        if n.endswith(suffix):
            base = n.removesuffix(suffix)
            break
    return tuple(dict.fromkeys((n, base, base.removesuffix(".act"), g.inputs_of(n)[0])))
