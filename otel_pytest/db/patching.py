"""Wrappers the code under test cannot tell from the functions they replace.

SQLAlchemy routes ``create_engine``'s keyword arguments by reading the argument names of
``Engine.__init__`` (and of pool and dialect classes) off their code objects
(``util.get_cls_kwargs``), and code under test may call ``inspect.signature`` on anything:
a ``*args, **kwargs`` wrapper breaks ``create_engine(url, echo=True)`` and
``engine_from_config``. So each wrapper is generated, as ``dataclasses`` generates
``__init__``, with the original's exact parameter list: the same names, kinds and order in
its code object, the same default objects, annotations, ``__name__``, ``__qualname__``,
``__doc__``, ``__module__`` and ``__dict__``, and a coroutine function stays one. It sets no
``__wrapped__`` (the original has none), and pytest leaves its frame out of tracebacks
(``__tracebackhide__``), so a failing query's traceback is the one the user sees without
the plugin.

The generated function only forwards its arguments, by position where the original takes
them by position, to ``impl``, which receives the instance and the arguments as the
original would and does the recording.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_IMPL = "_otel_pytest_impl"


def _code_parameters(code: types.CodeType) -> tuple[list[str], list[str]]:
    """The parameter list as written and the forwarding call, read off the code object."""
    names = code.co_varnames
    positional = list(names[: code.co_argcount])
    keyword_only = list(names[code.co_argcount : code.co_argcount + code.co_kwonlyargcount])
    extra = code.co_argcount + code.co_kwonlyargcount
    var_positional = names[extra] if code.co_flags & inspect.CO_VARARGS else None
    var_keyword = names[extra + (var_positional is not None)] if code.co_flags & inspect.CO_VARKEYWORDS else None
    if _IMPL in names:
        raise ValueError(f"cannot wrap a function with a parameter named {_IMPL}")
    written = list(positional)
    if code.co_posonlyargcount:
        written.insert(code.co_posonlyargcount, "/")
    if var_positional is not None:
        written.append(f"*{var_positional}")
    elif keyword_only:
        written.append("*")
    written += keyword_only
    call = list(positional)
    if var_positional is not None:
        call.append(f"*{var_positional}")
    call += [f"{name}={name}" for name in keyword_only]
    if var_keyword is not None:
        written.append(f"**{var_keyword}")
        call.append(f"**{var_keyword}")
    return written, call


def preserving_signature(original: F, impl: Callable[..., Any]) -> F:
    """A function that looks like ``original`` in every inspectable way and calls ``impl``.

    ``original`` must be a plain Python function (what the class's ``__dict__`` holds for a
    method); ``impl`` gets exactly the arguments ``original`` would get.
    """
    if not isinstance(original, types.FunctionType):
        raise TypeError(f"not a plain function: {original!r}")
    code = original.__code__
    written, call = _code_parameters(code)
    is_coroutine = bool(code.co_flags & inspect.CO_COROUTINE)
    source = (
        f"{'async ' if is_coroutine else ''}def {code.co_name}({', '.join(written)}):\n"
        f"    return {'await ' if is_coroutine else ''}{_IMPL}({', '.join(call)})\n"
    )
    namespace: dict[str, Any] = {_IMPL: impl, "__tracebackhide__": True}
    exec(compile(source, f"<otel-pytest wrapper of {original.__module__}.{original.__qualname__}>", "exec"), namespace)
    wrapper: Any = namespace[code.co_name]
    if hasattr(code, "co_qualname"):  # Python 3.11+: what tracebacks and profilers print
        wrapper.__code__ = wrapper.__code__.replace(co_qualname=code.co_qualname)
    wrapper.__defaults__ = original.__defaults__
    wrapper.__kwdefaults__ = dict(original.__kwdefaults__) if original.__kwdefaults__ is not None else None
    for attribute in functools.WRAPPER_ASSIGNMENTS:
        if hasattr(original, attribute):
            setattr(wrapper, attribute, getattr(original, attribute))
    wrapper.__dict__.update(original.__dict__)
    return wrapper  # type: ignore[no-any-return]


class Patches:
    """Replaced attributes and how to put them back: every patch has its unpatch."""

    def __init__(self) -> None:
        self._originals: dict[tuple[Any, str], Any] = {}

    def wrap(self, owner: Any, name: str, make_impl: Callable[[Any], Callable[..., Any]]) -> None:
        """Replace the function ``owner.<name>`` (held in ``owner``'s own ``__dict__``) by a
        signature-preserving wrapper calling ``make_impl(original)``; once per attribute."""
        if (owner, name) in self._originals:
            return
        original = vars(owner)[name]
        self._originals[owner, name] = original
        setattr(owner, name, preserving_signature(original, make_impl(original)))

    def share(self, owner: Any, name: str, source: Any) -> None:
        """Make ``owner.<name>`` the same object as ``source.<name>`` (an alias of a
        patched function, such as ``asyncpg.connect`` of ``asyncpg.connection.connect``)."""
        if (owner, name) not in self._originals:
            self._originals[owner, name] = vars(owner)[name]
            setattr(owner, name, getattr(source, name))

    def __contains__(self, key: tuple[Any, str]) -> bool:
        return key in self._originals

    def restore(self) -> None:
        for (owner, name), original in reversed(list(self._originals.items())):
            setattr(owner, name, original)
        self._originals.clear()
