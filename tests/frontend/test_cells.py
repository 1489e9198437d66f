"""Functions compiled from inside other Python functions: names reach them
through closure cells (values and functions), read when first parsed."""

import math

import tapeless as tl


def make_model(scale):
    offset = 0.5

    def helper(t):
        return math.tanh(t) * scale

    def model(x):
        # `helper`, `scale` and `offset` are Python closure cells of `model`
        return helper(x) + offset * x

    return model


def make_recursive():
    def countdown(n):
        return 0 if n == 0 else 1 + countdown(n - 1)  # recursion through a cell

    return countdown


def test_values_and_functions_in_cells():
    model = make_model(3.0)
    assert tl.compile(model)(0.7) == model(0.7)
    assert tl.grad(model)(0.7) == 3.0 * (1 - math.tanh(0.7) ** 2) + 0.5


def test_recursion_through_a_cell():
    countdown = make_recursive()
    assert tl.compile(countdown)(25) == countdown(25) == 25


def test_each_closure_is_its_own_function():
    a, b = make_model(1.0), make_model(-2.0)
    assert tl.compile(a)(0.3) == a(0.3)
    assert tl.compile(b)(0.3) == b(0.3)
