"""Pipeline strings: ``"canonicalize,lower-activations{neuron={conv*:lif,dense:if},synapse=none}"``.

Grammar (whitespace is allowed between tokens)::

    pipeline := [ pass ("," pass)* ]
    pass     := NAME [ "{" [ option ("," option)* ] "}" ]
    option   := KEY "=" VALUE        KEY may use - or _ (synapse-tau == synapse_tau)
    VALUE    := text up to the next "," or "}" outside nested {...}, (...), [...] and "..."

The text is read with the IR's lexer (:class:`snnc.ir.lexer.Cursor`: one lexer for
``.snnir`` and pipelines, errors with a caret under the column); each option value is then
read by its option's type (:meth:`snnc.passes.base.OptionInfo.parse`).

:func:`parse_pipeline` turns the text into pass instances; :func:`format_pipeline` prints
them back so that ``parse_pipeline(format_pipeline(ps)) == ps``; :func:`with_options`
edits the options of one pass in a pipeline text (``--neuron``/``--synapse`` overrides).

Which pipeline a target runs by default is the target's business (``snnc.codegen``'s
``Target``), not this module's.
"""

from __future__ import annotations

import re

from snnc.errors import PipelineError
from snnc.ir.lexer import Cursor
from snnc.passes.base import Pass, get_pass, known_passes_hint

_PASS_NAME = re.compile(r"[A-Za-z0-9_][\w\-]*")
_KEY = re.compile(r"[A-Za-z_][\w\-]*")


def _syntax_error(message: str) -> PipelineError:
    # the Cursor's message already says the column and draws the caret
    return PipelineError(f"bad pipeline, {message}", hint=known_passes_hint())


def split_pipeline(text: str) -> list[tuple[str, dict[str, str]]]:
    """Parse the syntax only: ``[(pass_name, {option: raw_text})]`` (option keys with ``_``).

    Raises:
        PipelineError: a syntax error, pointing at its column.
    """
    cur = Cursor(text, _syntax_error)
    items: list[tuple[str, dict[str, str]]] = []
    if cur.at_end():
        return items
    while True:
        name = cur.match(_PASS_NAME, "a pass name")
        opts: dict[str, str] = {}
        if cur.accept("{"):
            while not cur.accept("}"):
                cur.skip()
                key_pos = cur.pos
                key = cur.match(_KEY, "an option name").replace("-", "_")
                if key in opts:
                    raise cur.error(f"option '{key}' of pass '{name}' given twice", key_pos)
                if not cur.accept("="):
                    raise cur.error(f"expected '=' after option '{key}'")
                value_pos = cur.pos
                opts[key] = cur.balanced(",}")
                if not opts[key]:
                    raise cur.error("expected an option value", value_pos)
                if not cur.accept(","):
                    if not cur.accept("}"):
                        raise cur.error(f"expected ',' or '}}' in the options of '{name}'")
                    break
        items.append((name, opts))
        if cur.at_end():
            return items
        if not cur.accept(","):
            raise cur.error("expected ',' between passes")


def _item_text(name: str, raw_options: dict[str, str]) -> str:
    """``name`` or ``name{key=raw,...}`` from already formatted option texts."""
    if not raw_options:
        return name
    return name + "{" + ",".join(f"{k}={v}" for k, v in raw_options.items()) + "}"


def _option_infos(name: str) -> dict:
    return {o.name: o for o in get_pass(name).options()}


def _unknown_option(name: str, key: str, infos: dict) -> PipelineError:
    known = ", ".join(f"{o.name} ({o.type_text()})" for o in infos.values()) or "none"
    return PipelineError(
        f"pass '{name}' has no option '{key}'", hint=f"options of '{name}': {known}"
    )


def make_pass(name: str, raw_options: dict[str, str]) -> Pass:
    """Build pass ``name`` from option texts (each parsed with the option's type)."""
    cls = get_pass(name)
    infos = _option_infos(name)
    values = {}
    for key, raw in raw_options.items():
        if key not in infos:
            raise _unknown_option(name, key, infos)
        values[key] = infos[key].parse(raw, name)
    return cls(**values)


def parse_pipeline(text: str) -> list[Pass]:
    """Parse a pipeline string into pass instances (raise PipelineError when it is wrong)."""
    if not isinstance(text, str):
        raise PipelineError(
            f"a pipeline is a string like 'canonicalize,fold-batchnorm' (got {type(text).__name__})"
        )
    return [make_pass(name, opts) for name, opts in split_pipeline(text)]


def as_passes(pipeline: str | list[Pass]) -> list[Pass]:
    """A pipeline string or a list of passes (checked) as a list of passes."""
    if isinstance(pipeline, str):
        return parse_pipeline(pipeline)
    passes = list(pipeline)
    for p in passes:
        if not isinstance(p, Pass):
            raise PipelineError(
                f"a pipeline list must hold Pass instances (got {p!r})", hint=known_passes_hint()
            )
    return passes


def format_pipeline(passes: list[Pass], include_defaults: bool = False) -> str:
    """Pipeline text of ``passes`` (options at their default are left out unless asked)."""
    return ",".join(p.to_text(include_defaults) for p in passes)


def with_options(pipeline: str, pass_name: str, **options) -> str:
    """``pipeline`` with options of every ``pass_name`` pass in it set to ``options``.

    The rest of the text is kept as written (only whitespace is normalised). Each value is
    checked and printed by the pass's own option type: a Python value (``synapse=None``,
    ``neuron={"conv*": "lif"}``) or, for bool/int/float options, its pipeline text
    (``synapse="none"``, ``tau_rc="0.05"``). Keys may use ``-`` or ``_``. With no options
    the pipeline is returned unchanged::

        with_options("canonicalize,lower-activations", "lower-activations", neuron="lif")
        # -> "canonicalize,lower-activations{neuron=lif}"

    Raises:
        PipelineError: a syntax error in ``pipeline``, an unknown pass or option, a bad
            value, or a pipeline without a ``pass_name`` pass.
    """
    if not options:
        return pipeline
    items = split_pipeline(pipeline)
    if not any(name == pass_name for name, _ in items):
        raise PipelineError(
            f"cannot set {', '.join(options)} of '{pass_name}': pipeline {pipeline!r} has no "
            f"'{pass_name}' pass",
            hint=f"add {pass_name} to the pipeline",
        )
    infos = _option_infos(pass_name)
    texts = {}
    for key, value in options.items():
        key = key.replace("-", "_")
        info = infos.get(key)
        if info is None:
            raise _unknown_option(pass_name, key, infos)
        # a str is the value itself for str/choice/from_option options, and pipeline text
        # for the others (so "none" or "0.05" from a command line work as they would there)
        if isinstance(value, str) and info.base in (bool, int, float):
            value = info.parse(value, pass_name)
        else:
            value = info.coerce(value, pass_name)
        texts[key] = info.format(value)
    return ",".join(
        _item_text(name, {**opts, **texts} if name == pass_name else opts) for name, opts in items
    )
