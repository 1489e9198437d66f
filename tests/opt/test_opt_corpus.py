"""Every pass, and the pipeline, on every program of the front-end corpus:
the interpreter gives the same outcome before and after, and `verify`
accepts the IR after every pass."""

from __future__ import annotations

from typing import Any

import pytest
from corpus_support import Program, load_corpus
from hypothesis import given, settings
from hypothesis import strategies as st
from opt_support import TypedOptimizer, assert_same_run

from tapeless.errors import TapelessError
from tapeless.frontend import parse_function
from tapeless.ir.nodes import Graph
from tapeless.opt import DEFAULT, PASSES, optimize

CORPUS = load_corpus()
CONFIGS = {**{name: (name,) for name in PASSES}, "pipeline": DEFAULT}


def _parse(p: Program) -> Graph:
    try:
        return parse_function(p.fn)
    except TapelessError:
        if "may_refuse" in p.tags:
            pytest.skip("the front end refuses this program, as it may")
        raise


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("p", CORPUS, ids=[p.name for p in CORPUS])
def test_pass_keeps_results(p: Program, config: str) -> None:
    graph = _parse(p)
    optimized = optimize(graph, CONFIGS[config], verify_each=True)
    assert optimized is not graph
    for args in p.examples:
        assert_same_run(graph, optimized, args)

    @settings(max_examples=5 if config == "pipeline" else 2)
    @given(st.data())
    def check(data: Any) -> None:
        assert_same_run(graph, optimized, data.draw(p.args))

    check()


@pytest.mark.parametrize("p", CORPUS, ids=[p.name for p in CORPUS])
def test_typed_pipeline_keeps_results(p: Program) -> None:
    """The pipeline specialized to the types of each example (as `grad` runs it)."""
    graph = _parse(p)
    typed = TypedOptimizer(graph)
    for args in p.examples:
        assert_same_run(graph, typed(args), args)

    @settings(max_examples=3)
    @given(st.data())
    def check(data: Any) -> None:
        args = data.draw(p.args)
        assert_same_run(graph, typed(args), args)

    check()
