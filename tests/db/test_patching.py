"""Signature-preserving wrappers: nothing ``inspect`` or SQLAlchemy reads off a function
tells the wrapper from the original, and every patch is undone."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from sqlalchemy import util
from sqlalchemy.engine import Engine

from otel_pytest.db.patching import Patches, preserving_signature

SENTINEL = object()


def every_kind(
    a: int, b: object = SENTINEL, /, c: str = "c", *args: Any, d: int, e: list[int] | None = None, **kwargs: Any
) -> tuple[Any, ...]:
    """The original's docstring."""
    return (a, b, c, args, d, e, kwargs)


async def coroutine(self: object, query: str, *args: Any, timeout: float | None = None) -> str:
    return query


def facts(fn: Any) -> tuple[Any, ...]:
    code = fn.__code__
    count = code.co_argcount + code.co_kwonlyargcount
    flags = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS | inspect.CO_COROUTINE
    return (
        inspect.signature(fn, follow_wrapped=False),
        fn.__name__,
        fn.__qualname__,
        fn.__doc__,
        fn.__module__,
        fn.__annotations__,
        fn.__defaults__,
        fn.__kwdefaults__,
        dict(vars(fn)),
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_varnames[:count],
        code.co_flags & flags,
        inspect.iscoroutinefunction(fn),
        inspect.unwrap(fn) is fn,
    )


def test_the_wrapper_looks_like_the_original_and_passes_every_argument_as_given() -> None:
    calls: list[tuple[Any, ...]] = []

    def impl(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
        calls.append((args, kwargs))
        return every_kind(*args, **kwargs)

    wrapper = preserving_signature(every_kind, impl)
    assert facts(wrapper) == facts(every_kind)
    assert wrapper.__defaults__ is every_kind.__defaults__  # the same default objects
    assert wrapper(1, d=4) == every_kind(1, d=4)
    assert wrapper(1, 2, "x", 3, d=4, z=5) == (1, 2, "x", (3,), 4, None, {"z": 5})
    # Positional parameters go by position, keyword-only ones by name, as the original takes them.
    assert calls[-1] == ((1, 2, "x", 3), {"d": 4, "e": None, "z": 5})
    with pytest.raises(TypeError):
        wrapper(1)  # type: ignore[call-arg]  # d is required, as in the original


def test_a_coroutine_function_stays_one() -> None:
    async def impl(self: object, query: str, *args: Any, **kwargs: Any) -> str:
        return "via " + await coroutine(self, query, *args, **kwargs)

    wrapper = preserving_signature(coroutine, impl)
    assert facts(wrapper) == facts(coroutine)
    assert asyncio.run(wrapper(None, "SELECT 1", timeout=1.0)) == "via SELECT 1"


def test_sqlalchemy_routes_keyword_arguments_through_a_wrapped_init_as_through_the_original() -> None:
    class Patched(Engine):
        pass

    class Plain(Engine):
        pass

    Patched.__init__ = preserving_signature(Engine.__init__, Engine.__init__)  # type: ignore[method-assign]
    Plain.__init__ = Engine.__init__  # type: ignore[method-assign]
    assert util.get_cls_kwargs(Patched) == util.get_cls_kwargs(Plain) >= {"echo", "logging_name", "hide_parameters"}


def test_only_plain_functions_are_wrapped() -> None:
    with pytest.raises(TypeError):
        preserving_signature(len, print)


class Target:
    def method(self, x: int) -> int:
        return x


class Alias:
    method = Target.method


def test_patches_wrap_each_attribute_once_and_restore_all() -> None:
    originals = dict(vars(Target))
    patches = Patches()
    made: list[str] = []

    def make(original: Any) -> Any:
        made.append(original.__name__)
        return lambda self, x: original(self, x) * 10

    patches.wrap(Target, "method", make)
    patches.wrap(Target, "method", make)  # a second time: nothing more
    assert made == ["method"]
    assert Target().method(2) == 20
    assert set(vars(Target)) == set(originals)
    assert (Target, "method") in patches
    patches.share(Alias, "method", Target)  # an alias of a patched function: the same wrapper
    assert vars(Alias)["method"] is vars(Target)["method"]
    patches.restore()
    assert dict(vars(Target)) == originals
    assert vars(Alias)["method"] is originals["method"]
    assert (Target, "method") not in patches
    patches.restore()  # a second time: harmless
