"""The pass API: :class:`Pass`, its typed options, the registry and :class:`PassContext`.

A pass is a frozen dataclass with a kebab-case ``name``, a declared ``stage`` requirement,
typed options (the dataclass fields, each with a default) and ``run(graph, ctx)``::

    @register_pass
    @dataclass(frozen=True)
    class PruneWeights(Pass):
        \"\"\"Zero dense weights whose magnitude is below a threshold.\"\"\"

        name: ClassVar[str] = "prune-weights"
        stage: ClassVar = Stage.ANN
        threshold: float = option(1e-3, "weights with |w| below this become 0")

        def run(self, graph, ctx):
            ...
            return PassResult(changed=True, stats={"pruned": n})

Option types: ``bool``, ``int``, ``float``, ``str``, ``Literal[...]`` (an enum of strings),
any of these ``| None``, or a class with a ``from_option(value)`` classmethod that accepts
both the pipeline text and Python values and whose ``str()`` is the pipeline text (see
:class:`snnc.passes.lower_activations.NeuronSpec`). Values are checked when the pass is
built, from Python or from a pipeline string, and a bad one raises
:class:`~snnc.errors.PipelineError` naming the pass, the option and the expected type.

Option values are read with the IR's lexer (:class:`snnc.ir.lexer.Cursor`) and printed
with its literal formatter (:func:`snnc.ir.lexer.format_literal`), so ``none``, booleans,
numbers and quoted strings are spelt the same in pipelines and in ``.snnir`` text. The one
pipeline convenience: a string that cannot be mistaken for anything else prints bare
(``mode=auto``, not ``mode="auto"``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import logging
import re
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from snnc.errors import PassError, PipelineError
from snnc.ir import Graph, Stage
from snnc.ir.lexer import Cursor, format_literal
from snnc.ir.neurons import NEURONS
from snnc.ir.ops import OPS

log = logging.getLogger("snnc.passes")

#: every registered pass class by name (built-in passes, ``--load-pass`` files, plugins)
PASSES: dict[str, type[Pass]] = {}

#: entry-point group through which installed packages contribute passes
ENTRY_POINT_GROUP = "snnc.passes"

_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


# =============================================================================== results, context


@dataclass
class PassResult:
    """What a pass reports: whether it changed the graph, numbers, and notes for the user."""

    changed: bool
    stats: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class PassContext:
    """Everything a pass may use besides the graph, passed explicitly (never a global).

    Attributes:
        target: the backend name (``nengo``, ``nengo-dl``, ``loihi``) or None.
        calibration: representative inputs (an array ``(batch, *shape)`` or a list with one
            per model input) for data-driven passes such as ``normalize-rates``.
        rng: the random generator passes draw from (seeded: runs are reproducible).
        logger: where passes log.
    """

    target: str | None = None
    calibration: list[np.ndarray] | np.ndarray | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    logger: logging.Logger = field(default_factory=lambda: log)

    @classmethod
    def default(cls, *, seed: int = 0, **kwargs) -> PassContext:
        """A context with a generator seeded by ``seed``; other fields from ``kwargs``."""
        kwargs.setdefault("rng", np.random.default_rng(seed))
        return cls(**kwargs)


# =============================================================================== options


def option(
    default: Any,
    doc: str | Callable[[], str] = "",
    *,
    check: Callable[[Any], bool] | None = None,
    expect: str | None = None,
):
    """A documented pass option: a dataclass field with ``default`` and help text ``doc``.

    ``doc`` may be a function returning the text, for help that lists something registered
    later (the neurons of the catalogue, plugins included). ``check(value) -> bool``
    validates values beyond their type; ``expect`` says in words what a valid value is (it
    appears in the error message and in ``snnc passes``).
    """
    return field(default=default, metadata={"doc": doc, "check": check, "expect": expect})


#: a string prints bare in pipeline text unless it holds a character of the pipeline
#: syntax (or a quote, bracket or space), or reads as another value
_NEEDS_QUOTES = re.compile(r'[,{}()\[\]=\s"\\]')
_RESERVED_WORDS = ("none", "true", "false")


@dataclass(frozen=True)
class OptionInfo:
    """One option of a pass, as ``snnc passes`` lists it and the pipeline parser reads it."""

    name: str
    base: Any  # bool, int, float, str, a tuple of Literal choices, or a from_option class
    optional: bool  # "none" / None allowed
    default: Any
    doc_source: str | Callable[[], str] = ""
    check: Callable[[Any], bool] | None = None
    expect: str | None = None

    @classmethod
    def from_field(cls, f: dataclasses.Field, annotation: Any, owner: str) -> OptionInfo:
        optional = False
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            optional = type(None) in args
            rest = [a for a in args if a is not type(None)]
            if len(rest) != 1:
                raise PassError(
                    f"pass class {owner}: option '{f.name}' has type {annotation} (a union of several types is not supported)"
                )
            annotation = rest[0]
        if typing.get_origin(annotation) is Literal:
            base = tuple(typing.get_args(annotation))
        elif annotation in (bool, int, float, str) or hasattr(annotation, "from_option"):
            base = annotation
        else:
            raise PassError(
                f"pass class {owner}: option '{f.name}' has unsupported type {annotation!r}",
                hint="use bool, int, float, str, Literal[...], X | None, or a class with from_option()",
            )
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise PassError(f"pass class {owner}: option '{f.name}' needs a default value")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        meta = f.metadata
        return cls(
            f.name,
            base,
            optional,
            default,
            meta.get("doc", ""),
            meta.get("check"),
            meta.get("expect"),
        )

    # ------------------------------------------------------------------ describing
    @property
    def doc(self) -> str:
        """The help text (computed now when the option declared a function)."""
        return self.doc_source() if callable(self.doc_source) else self.doc_source

    def type_text(self) -> str:
        """The expected type in words, e.g. ``float``, ``one of data|fixed``, ``int or none``."""
        if isinstance(self.base, tuple):
            text = "one of " + "|".join(str(c) for c in self.base)
        else:
            text = getattr(self.base, "option_type", None) or self.base.__name__
            text = text() if callable(text) else text
        return text + (" or none" if self.optional else "")

    def expected(self) -> str:
        return self.expect or self.type_text()

    def format(self, value: Any) -> str:
        """The pipeline text of ``value`` (what :meth:`parse` reads back to it).

        Literals print with :func:`snnc.ir.lexer.format_literal` (``none``, ``true``,
        ``0.25``, ``"a b"``), except strings that are plain words, which print bare; a
        ``from_option`` value prints its ``str()``.
        """
        if isinstance(value, str):
            bare = value and not _NEEDS_QUOTES.search(value) and value not in _RESERVED_WORDS
            return value if bare else format_literal(value)
        if value is None or isinstance(value, (bool, int, float, tuple)):
            return format_literal(value)
        return str(value)

    # ------------------------------------------------------------------ reading
    def parse(self, text: str, pass_name: str) -> Any:
        """Read the pipeline text of a value (then :meth:`coerce` it).

        ``none``, booleans, numbers and ``"quoted strings"`` are read by the IR lexer; other
        text is a bare word (a string, a choice, or the text a ``from_option`` class reads).
        """
        text = text.strip()
        cur = Cursor(text, lambda message: self.error(pass_name, repr(text), message))
        if self.optional and text == "none":
            return None
        if text.startswith('"'):
            value = cur.name()  # a JSON string, as format_literal writes it
            if not cur.at_end():
                raise self.error(pass_name, repr(text))
            if self.base is str or isinstance(self.base, tuple):
                return self.coerce(value, pass_name)
            text = value  # a quoted value of another type reads like its unquoted text
            cur = Cursor(text, lambda message: self.error(pass_name, repr(text), message))
        if self.base is bool:
            # format_literal writes true/false; the usual spellings of a flag read too
            words = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
            if text.lower() not in words:
                raise self.error(pass_name, repr(text))
            return self.coerce(words[text.lower()], pass_name)
        if self.base in (int, float):
            try:
                value = cur.literal()
            except PipelineError:
                raise self.error(pass_name, repr(text)) from None
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not cur.at_end() or not numeric or (self.base is int and isinstance(value, float)):
                raise self.error(pass_name, repr(text))
            return self.coerce(value, pass_name)
        return self.coerce(text, pass_name)  # str, Literal choices and from_option classes

    def coerce(self, value: Any, pass_name: str) -> Any:
        """Check a Python value against the option's type; returns the normalised value."""
        if value is None:
            if self.optional:
                return None
            raise self.error(pass_name, "none")
        base = self.base
        ok = True
        if isinstance(base, tuple):
            ok = value in base
        elif base is bool:
            ok = isinstance(value, (bool, np.bool_))
            value = bool(value) if ok else value
        elif base is int:
            ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            value = int(value) if ok else value
        elif base is float:
            ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
                value, bool
            )
            value = float(value) if ok else value
        elif base is str:
            ok = isinstance(value, str)
        else:
            try:
                value = base.from_option(value)
            except (TypeError, ValueError) as e:
                raise self.error(pass_name, repr(value), str(e)) from None
        if ok and self.check is not None and not self.check(value):
            ok = False
        if not ok:
            raise self.error(pass_name, repr(value))
        return value

    def error(self, pass_name: str, got: str, detail: str | None = None) -> PipelineError:
        what = detail or f"expected {self.expected()}, got {got}"
        return PipelineError(
            f"pass '{pass_name}': option '{self.name}': {what}",
            hint=f"'{self.name}' takes {self.expected()} (default {self.format(self.default)})",
        )


# =============================================================================== the Pass base


class Pass:
    """Base class of all passes. Subclasses are frozen dataclasses registered with
    :func:`register_pass`; see the module docstring for the contract.

    Class attributes:
        name: kebab-case pass name used in pipelines (``fold-batchnorm``).
        stage: the graph stage the pass needs: a :class:`~snnc.ir.Stage`, a set of them, or
            None for any stage. Declaring it is required.
    """

    name: ClassVar[str]
    stage: ClassVar[Stage | frozenset[Stage] | None]

    def __post_init__(self):
        # normalise and validate every option, whether it came from Python or from text
        for info in type(self).options():
            object.__setattr__(self, info.name, info.coerce(getattr(self, info.name), self.name))

    def run(self, graph: Graph, ctx: PassContext) -> PassResult:
        """Transform ``graph`` in place (through Graph methods only) and report."""
        raise NotImplementedError

    # ------------------------------------------------------------------ introspection
    @classmethod
    def options(cls) -> list[OptionInfo]:
        """The options of this pass, in declaration order."""
        cached = cls.__dict__.get("_options_cache")
        if cached is None:
            try:
                hints = typing.get_type_hints(cls)
            except Exception as e:  # noqa: BLE001 - any failure means unreadable annotations
                raise PassError(
                    f"pass class {cls.__qualname__}: cannot read option types ({e})"
                ) from None
            cached = [
                OptionInfo.from_field(f, hints[f.name], cls.__qualname__)
                for f in dataclasses.fields(cls)
            ]
            cls._options_cache = cached
        return cached

    @classmethod
    def summary(cls) -> str:
        """The first line of the pass's docstring."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0].strip() if doc else ""

    @classmethod
    def stages(cls) -> frozenset[Stage] | None:
        """The accepted stages as a set, or None for any stage."""
        return _stage_set(cls.stage)

    def option_values(self, include_defaults: bool = False) -> dict[str, Any]:
        """Options as ``name -> value`` (only the non-default ones unless asked)."""
        out = {}
        for info in self.options():
            value = getattr(self, info.name)
            if include_defaults or value != info.coerce(info.default, self.name):
                out[info.name] = value
        return out

    def to_text(self, include_defaults: bool = False) -> str:
        """This pass as pipeline text: ``name`` or ``name{opt=value,...}``."""
        infos = {o.name: o for o in self.options()}
        opts = self.option_values(include_defaults)
        if not opts:
            return self.name
        return (
            self.name + "{" + ",".join(f"{k}={infos[k].format(v)}" for k, v in opts.items()) + "}"
        )

    def check_stage(self, graph: Graph) -> None:
        """Raise PassError when ``graph`` is not at a stage this pass accepts."""
        allowed = self.stages()
        if allowed is not None and graph.stage not in allowed:
            want = "|".join(sorted(s.value for s in allowed))
            raise PassError(
                f"needs a graph at stage {want} (got {graph.stage.value})",
                hint="reorder the pipeline (lowering passes come after ANN-level passes)",
            )

    def __str__(self) -> str:
        return self.to_text()


def _stage_set(stage) -> frozenset[Stage] | None:
    if stage is None:
        return None
    if isinstance(stage, (Stage, str)):
        return frozenset({Stage(stage)})
    return frozenset(Stage(s) for s in stage)


# =============================================================================== registry


def register_pass(cls: type) -> type[Pass]:
    """Class decorator: check a pass class and add it to :data:`PASSES` under its name.

    A class that is not yet a dataclass is made a frozen one. Rejects a non-frozen
    dataclass, a missing or non-kebab-case name, a missing ``stage`` declaration, a missing
    ``run``, options without defaults or of unsupported types, and a name another class
    already registered (re-registering the same class, e.g. when a file is loaded again,
    replaces it).
    """
    if not (isinstance(cls, type) and issubclass(cls, Pass)):
        raise PassError(f"@register_pass: {cls!r} is not a subclass of snnc.passes.Pass")
    if "__dataclass_params__" not in cls.__dict__:
        cls = dataclass(frozen=True)(cls)
    elif not cls.__dataclass_params__.frozen:
        raise PassError(
            f"pass class {cls.__qualname__} must be a frozen dataclass (use @dataclass(frozen=True))"
        )
    fields = {f.name for f in dataclasses.fields(cls)}
    name = getattr(cls, "name", None)
    if "name" in fields or not isinstance(name, str) or not _NAME_RE.match(name):
        raise PassError(
            f"pass class {cls.__qualname__}: name {name!r} is not a kebab-case class attribute",
            hint='declare name: ClassVar[str] = "my-pass" (lower case words joined by -)',
        )
    if not any("stage" in vars(k) for k in cls.__mro__ if k is not Pass) or "stage" in fields:
        raise PassError(
            f"pass '{name}': declare the stage it needs as a class attribute",
            hint="stage: ClassVar = Stage.ANN (or a set of stages, or None for any stage)",
        )
    try:
        _stage_set(cls.stage)
    except (ValueError, TypeError):
        raise PassError(
            f"pass '{name}': stage {cls.stage!r} is not a Stage, a set of them or None"
        ) from None
    if cls.run is Pass.run:
        raise PassError(f"pass '{name}': define run(self, graph, ctx) -> PassResult")
    cls.options()  # validates option types and defaults now, not at first use
    old = PASSES.get(name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise PassError(
            f"pass name '{name}' is already registered by {old.__module__}.{old.__qualname__}",
            hint="pick another name for your pass",
        )
    PASSES[name] = cls
    return cls


def get_pass(name: str) -> type[Pass]:
    """The pass class registered as ``name`` (plugins are loaded on the first miss)."""
    if name not in PASSES:
        load_plugins()
    try:
        return PASSES[name]
    except KeyError:
        raise PipelineError(f"unknown pass '{name}'", hint=known_passes_hint()) from None


def all_passes() -> dict[str, type[Pass]]:
    """Every available pass by name, plugins included, sorted by name."""
    load_plugins()
    return dict(sorted(PASSES.items()))


def known_passes_hint() -> str:
    return "known passes: " + ", ".join(sorted(PASSES))


_plugins_loaded = False


def load_plugins(force: bool = False) -> list[str]:
    """Import the passes installed packages declare in the ``snnc.passes`` entry-point group.

    An entry point names a module (its passes register themselves) or a Pass class (it is
    registered here). Runs once per process unless ``force``. A broken plugin is logged and
    skipped. Returns the names of passes that appeared.
    """
    global _plugins_loaded
    if _plugins_loaded and not force:
        return []
    _plugins_loaded = True
    from importlib.metadata import entry_points

    before = set(PASSES)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if isinstance(obj, type) and issubclass(obj, Pass) and obj not in PASSES.values():
                register_pass(obj)
        except Exception as e:  # noqa: BLE001 - a broken plugin must not break snnc
            log.warning("could not load pass plugin %s (%s): %s", ep.name, ep.value, e)
    return sorted(set(PASSES) - before)


def load_pass_file(path: str | Path) -> list[str]:
    """Import a Python file whose passes, neurons or ops register themselves; returns the
    names of the passes it registered.

    A plugin file may define passes (``@register_pass``), neurons
    (``@snnc.ir.neurons.register_neuron``) and ops (``@snnc.ir.ops.register_op``): a new
    neuron is one file loaded like a custom pass. The module gets a name derived from the
    file's absolute path, so loading the same file again re-registers its classes instead
    of clashing with them.
    """
    path = Path(path)
    if not path.is_file():
        raise PassError(
            f"{path}: no such pass file",
            hint="--load-pass takes a .py file defining @register_pass (or @register_neuron) classes",
        )
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"snnc_user_pass_{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise PassError(f"{path}: cannot import this file as Python")
    _forget_module_registrations(module_name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # get_type_hints needs the module registered
    before = dict(PASSES)
    neurons_before, ops_before = dict(NEURONS), dict(OPS)
    try:
        spec.loader.exec_module(module)
    except PassError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's file is user input: report, no traceback
        sys.modules.pop(module_name, None)
        where = f", line {e.lineno}" if isinstance(e, SyntaxError) and e.lineno else ""
        raise PassError(
            f"{path}{where}: loading the pass file failed: {type(e).__name__}: {e}"
        ) from e
    new = [n for n, c in PASSES.items() if before.get(n) is not c]
    neurons = [n for n, c in NEURONS.items() if neurons_before.get(n) is not c]
    new_ops = [k for k, c in OPS.items() if ops_before.get(k) is not c]
    if neurons:
        log.debug("%s registered neuron(s): %s", path, ", ".join(neurons))
    if not (new or neurons or new_ops):
        log.warning(
            "%s registered no pass, neuron or op (decorate classes with @register_pass, "
            "@register_neuron or @register_op)",
            path,
        )
    return new


def _forget_module_registrations(module_name: str) -> None:
    """Drop the neurons and ops a previous load of plugin module ``module_name`` registered.

    The IR's registries refuse a second registration of a kind or neuron name (a misspelt
    plugin must not shadow a built-in silently); a file loaded again defines the same
    classes anew, so its own earlier entries go first. Passes need no such step:
    :func:`register_pass` already replaces a class of the same module and name.
    """
    for option_name, cls in list(NEURONS.items()):
        if cls.__module__ == module_name:
            del NEURONS[option_name]
    for kind, cls in list(OPS.items()):
        if cls.__module__ == module_name:
            del OPS[kind]
