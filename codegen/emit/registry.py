"""The emitter registry: one function per op, found by op class or by trait.

An emitter is ``fn(builder, node, op, ins) -> Value``: it gets the
:class:`~snnc.codegen.emit.builder.NetworkBuilder`, the IR node's name, its op and its input
:class:`~snnc.codegen.emit.values.Value` s (edge synapses already applied) and returns the
node's Value. An optional ``check(graph, node, target) -> str | None`` says, before anything
is emitted, why a node cannot be emitted, so a target reports every problem at once.

Emitters register under op classes (``@emitter(ops.Add)``) or traits
(``@emitter(T.Neuron)``). Lookup asks, in order: the op's class and its base classes, then the
traits in the order they were registered (so a more specific trait, registered first, wins:
``MovesValues`` before ``Linear``). A target may hold its own :class:`EmitterTable` of
overrides, consulted before the shared :data:`EMITTERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from snnc.ir import traits as T
from snnc.ir.ops import Op


@dataclass(frozen=True)
class Emitter:
    """An emitter function plus its optional pre-emission check."""

    fn: Callable
    check: Callable | None = None


class EmitterTable:
    """Emitters keyed by op class or trait (see the module docstring for the lookup order)."""

    def __init__(self):
        self._by_class: dict[type, Emitter] = {}
        self._by_trait: dict[type, Emitter] = {}  # insertion order is the priority

    def register(self, *keys: type, check: Callable | None = None):
        """Decorator: register ``fn`` for every op class or trait in ``keys``.

        Raises:
            ValueError: a key is neither an op class nor a trait, or is registered twice.
        """

        def deco(fn):
            for key in keys:
                table = self._table(key)
                if key in table:
                    raise ValueError(f"an emitter for {key.__name__} is already registered")
                table[key] = Emitter(fn, check)
            return fn

        return deco

    def _table(self, key) -> dict:
        if isinstance(key, type) and issubclass(key, T.Trait):
            return self._by_trait
        if isinstance(key, type) and issubclass(key, Op):
            return self._by_class
        raise ValueError(f"emitters register under op classes or traits (got {key!r})")

    def find(self, op: Op | type[Op]) -> Emitter | None:
        """The emitter for ``op`` (an op or op class), or None."""
        cls = op if isinstance(op, type) else type(op)
        for base in cls.__mro__:
            if base in self._by_class:
                return self._by_class[base]
        for trait, em in self._by_trait.items():
            if cls.has(trait):
                return em
        return None

    def keys(self) -> list[type]:
        """Every registered op class and trait."""
        return [*self._by_class, *self._by_trait]


#: the emitters shared by every nengo-family target
EMITTERS = EmitterTable()


def emitter(*keys: type, check: Callable | None = None, table: EmitterTable | None = None):
    """Register ``fn(builder, node, op, ins) -> Value`` for op classes / traits ``keys``.

    ``check(graph, node, target) -> str | None`` returns why ``node`` cannot be emitted.
    ``table`` defaults to the shared :data:`EMITTERS`; a target passes its own overrides.
    A plugin op (one file: op class, interpreter kernel, emitter) registers here.
    """
    return (EMITTERS if table is None else table).register(*keys, check=check)


def find_emitter(target, op: Op) -> Emitter | None:
    """The target's override for ``op``, else the shared emitter, else None."""
    overrides = getattr(target, "emitters", None)
    found = overrides.find(op) if overrides is not None else None
    return found or EMITTERS.find(op)
