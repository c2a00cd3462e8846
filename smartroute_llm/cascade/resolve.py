"""Verifiers named in a policy: a built-in name, a dotted import path, ``{name: ..., **args}``,
or the object itself.

A policy written in a config file can only name its verifiers, so names must resolve the same
way everywhere; a policy built in code may hold the objects, and serializes them back to a name
where one exists (their import path).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from smartroute_llm.verifiers.base import Verifier, as_verifier

Spec = Any  # str | Mapping[str, Any] | Verifier | Callable


# built-in names -> the class, by import path (a build without one simply lacks that name)
_KNOWN = {
    "structural": "smartroute_llm.verifiers.structural.StructuralVerifier",
    "consistency": "smartroute_llm.verifiers.consistency.ConsistencyVerifier",
    "confidence": "smartroute_llm.verifiers.confidence.LogprobVerifier",
    "logprobs": "smartroute_llm.verifiers.confidence.LogprobVerifier",
    "judge": "smartroute_llm.verifiers.judge.JudgeVerifier",
    "answer": "smartroute_llm.verifiers.answer.AnswerVerifier",
    "arithmetic": "smartroute_llm.verifiers.arithmetic.ArithmeticVerifier",
}


def builtins() -> Mapping[str, Callable[..., Any]]:
    """The built-in verifiers by name: ``smartroute_llm.verifiers.BUILTINS`` where the package
    defines one, else those of ``_KNOWN`` present in this build."""
    import smartroute_llm.verifiers as pkg

    found = getattr(pkg, "BUILTINS", None)
    if isinstance(found, Mapping):
        return found
    out: dict[str, Callable[..., Any]] = {}
    for name, path in _KNOWN.items():
        try:
            out[name] = _import(path, "")
        except ValueError:
            continue
    return out


def resolve(spec: Spec, where: str) -> Verifier:
    """The verifier ``spec`` names, or a ``ValueError`` naming ``where`` and the fix."""
    if isinstance(spec, str):
        return _from_name(spec, {}, where)
    if isinstance(spec, Mapping):
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(
                f"{where}: a mapping needs name: (a built-in verifier or an import path), "
                f"got {dict(spec)!r}"
            )
        return _from_name(name, {k: v for k, v in spec.items() if k != "name"}, where)
    if isinstance(spec, Verifier) or callable(spec):
        return as_verifier(spec)
    raise ValueError(
        f"{where}: {type(spec).__name__} is not a verifier; give a built-in name, an import "
        "path (package.module.name), a Verifier or a function (request, response) -> bool"
    )


def _from_name(name: str, args: dict[str, Any], where: str) -> Verifier:
    name = name.strip()
    known = builtins()
    if name in known:
        factory: Any = known[name]
    elif "." in name:
        factory = _import(name, where)
    else:
        listed = ", ".join(sorted(known)) or "none in this build"
        raise ValueError(
            f"{where}: unknown verifier {name!r}; use a built-in ({listed}) or an import path "
            "such as mypackage.checks.my_verifier"
        )
    if isinstance(factory, type):
        try:
            factory = factory(**args)
        except TypeError as exc:
            raise ValueError(f"{where}: cannot build {name!r} with {args!r}: {exc}") from None
    elif args:
        if isinstance(factory, Verifier) or not callable(factory):
            raise ValueError(f"{where}: {name!r} takes no arguments, got {sorted(args)}")
        factory = factory(**args)  # a factory function: its result is the verifier
    if isinstance(factory, str | Mapping) or not (
        isinstance(factory, Verifier) or callable(factory)
    ):
        raise ValueError(
            f"{where}: {name!r} is a {type(factory).__name__}, not a verifier (a Verifier, a "
            "class of one, or a function (request, response) -> bool)"
        )
    return as_verifier(factory)


def _import(path: str, where: str) -> Any:
    module, _, attr = path.replace(":", ".").rpartition(".")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(
            f"{where}: cannot import {module!r} for verifier {path!r}: {exc}"
        ) from None
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise ValueError(f"{where}: module {module!r} has no {attr!r}") from None


def spec_name(spec: Spec) -> Any:
    """How a verifier spec is written in a policy file: strings and mappings as given; an
    object as its import path when it has one (a module-level function, or an instance of a
    class that takes no arguments), else its ``name``."""
    if isinstance(spec, str | Mapping):
        return spec
    fn = getattr(spec, "fn", spec)  # a wrapped user callable: the function's own path
    target = fn if callable(fn) and hasattr(fn, "__qualname__") else type(fn)
    qual = getattr(target, "__qualname__", "")
    mod = getattr(target, "__module__", "")
    if mod and qual and "<" not in qual:
        return f"{mod}.{qual}"
    return str(getattr(spec, "name", type(spec).__name__))
