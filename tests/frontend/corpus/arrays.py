"""numpy arrays: elementwise arithmetic and ufuncs with broadcasting,
reductions with `axis`, dot/matmul, transpose, reshape, shape, constructors,
integer indexing and basic slices; arrays as arguments and results."""

import numpy as np
from corpus_support import (
    Program,
    arrays,
    floats,
    ints,
    matrices,
    same_shape,
    shapes,
    vectors,
)
from hypothesis import strategies as st


def elementwise(x, y):
    return x * y + 2.0 * x - y / 4.0, -x, x**2


def scalar_broadcast(x, a, n):
    return x + a, a * x - n, n / (x * x + 1.0)


def broadcast_shapes(col, row):
    # (n, 1) op (m,) broadcasts to (n, m)
    return col + row, col * row - 1.0


def ufuncs(x):
    return np.exp(x), np.log(np.abs(x) + 1.0), np.tanh(x), np.sin(x), np.cos(x), np.sqrt(x * x)


def relu_and_friends(x, y):
    return np.maximum(x, 0.0), np.minimum(x, y), np.abs(x), np.maximum(x, y)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reductions(a):
    return np.sum(a), np.mean(a), np.max(a)


def reductions_axis(a):
    return (
        np.sum(a, axis=0),
        np.sum(a, axis=1),
        np.mean(a, axis=0),
        np.max(a, axis=1),
        np.sum(a, 0),
    )


def dot_vectors(x, y):
    return np.dot(x, y), x @ y


def matmul(a, b):
    return a @ b, np.dot(a, b)


def matvec(a, x):
    return a @ x, np.dot(a, x) + 1.0


def transposes(a):
    return a.T, np.transpose(a), a.T @ a, a @ a.T


def reshapes(a):
    n, m = a.shape
    return a.reshape(m, n), a.reshape((n * m,)), a.reshape(-1), a.reshape(n * m, 1)


def shape_reads(a):
    s = a.shape
    return s, a.shape[0] * a.shape[1], len(s)


def constructors(x, n):
    return (
        np.zeros(n),
        np.ones(n),
        np.zeros((n, 2)),
        np.ones((2, n)),
        np.zeros_like(x),
        np.ones_like(x),
    )


def integer_indexing(x, i):
    # xs[t] of a float array is an np.float64 scalar
    return x[i], x[-1], x[0] * 2.0


def matrix_indexing(a, i, j):
    return a[i, j], a[i], a[:, j], a[i, :]


def basic_slices(x):
    return x[1:], x[:-1], x[1:] - x[:-1], x[::2], x[::-1]


def matrix_slices(a):
    return a[1:, :], a[:, 1:], a[:1], a[::-1, ::2]


def index_loop_sum(x):
    acc = 0.0
    for i in range(x.shape[0]):
        acc = acc + x[i] * x[i]
    return acc


def running_max_rows(a):
    # an array carried around a loop
    acc = a[0]
    for i in range(1, a.shape[0]):
        acc = np.maximum(acc, a[i])
    return acc, np.max(a, axis=0)


def row_norms_loop(a):
    total = 0.0
    for i in range(a.shape[0]):
        r = a[i]
        total = total + np.sqrt(np.sum(r * r))
    return total


def softmax(x):
    z = x - np.max(x)
    e = np.exp(z)
    return e / np.sum(e)


def mlp_layer(w, x, b):
    return np.tanh(w @ x + b)


def linear_regression_loss(w, xs, ys):
    pred = xs @ w
    err = pred - ys
    return np.mean(err * err)


def gradient_descent(xs, ys, lr):
    w = np.zeros(xs.shape[1])
    n = xs.shape[0]
    for _ in range(10):
        grad = 2.0 * (xs.T @ (xs @ w - ys)) / n
        w = w - lr * grad
    return w, linear_regression_loss(w, xs, ys)


def int_arrays(k, m):
    # int64 arrays stay int64 under + and *; / gives float64; sums are np.int64
    return k + m, k * 2, k / 2, np.sum(k), np.max(m, axis=0), k // 3


def numpy_scalar_types(k, i):
    # elements of an int64 array are np.int64; mixing with Python ints keeps np.int64
    v = k[i]
    return v, v + 1, v * 2.5, v / 2, v // 2, -v, float(v), int(v), np.mean(k)


def array_comparisons(x, y):
    return x == y, x < y, x >= 0.0, (x > y) * 1.0


def one_d_shapes(x):
    n = x.shape[0]
    return x.T, x.reshape(-1, 1), x.reshape(1, n).T, np.transpose(x), x.shape


def index_out_of_bounds(x, i):
    # IndexError past either end
    return x[i] * 2.0


def broadcast_mismatch(x, y):
    # ValueError when the shapes do not broadcast
    return x * y + 1.0


def bool_arrays(x):
    mask = x > 0.0
    return mask, mask * x, np.sum(mask), np.sum(x * mask, axis=0)


def array_aug_assign(x, y):
    acc = np.zeros_like(x)
    acc += x
    acc *= y
    acc -= 1.0
    acc /= 2.0
    return acc


def scalars_from_arrays(x):
    # float() of an np.float64; mixing a Python float with an np.float64
    s = np.sum(x)
    return float(s), s + 1.0, 2.0 * s, s > 0.0


def pairwise_sq_dists(a):
    # rank-3 broadcasting: (n, 1, m) - (1, n, m)
    n, m = a.shape
    diff = a.reshape(n, 1, m) - a.reshape(1, n, m)
    return np.sum(diff * diff, axis=2)


def _vec_and_index(lo=1, hi=6):
    return st.integers(lo, hi).flatmap(lambda n: st.tuples(arrays((n,)), st.integers(-n, n - 1)))


def _matrix_and_indices():
    return shapes(2, 1, 4).flatmap(
        lambda s: st.tuples(arrays(s), st.integers(0, s[0] - 1), st.integers(-s[1], s[1] - 1))
    )


def _matmul_pair():
    return st.tuples(ints(1, 4), ints(1, 4), ints(1, 4)).flatmap(
        lambda s: st.tuples(arrays((s[0], s[1])), arrays((s[1], s[2])))
    )


def _matvec_pair():
    return st.tuples(ints(1, 4), ints(1, 4)).flatmap(
        lambda s: st.tuples(arrays((s[0], s[1])), arrays((s[1],)))
    )


def _layer():
    return st.tuples(ints(1, 4), ints(1, 4)).flatmap(
        lambda s: st.tuples(arrays((s[0], s[1])), arrays((s[1],)), arrays((s[0],)))
    )


def _regression():
    return st.tuples(ints(2, 6), ints(1, 3)).flatmap(
        lambda s: st.tuples(arrays((s[0], s[1]), -2, 2), arrays((s[0],), -2, 2), floats(0.01, 0.1))
    )


def _broadcast_pair():
    return st.tuples(ints(1, 4), ints(1, 4)).flatmap(
        lambda s: st.tuples(arrays((s[0], 1)), arrays((s[1],)))
    )


_ARR = frozenset({"arrays"})


def _p(fn, strategy, tags=_ARR):
    return Program(fn, strategy, frozenset(tags))


PROGRAMS = [
    _p(elementwise, same_shape(2, shapes(2))),
    _p(scalar_broadcast, st.tuples(matrices(), floats(), ints())),
    _p(broadcast_shapes, _broadcast_pair()),
    _p(ufuncs, st.tuples(vectors())),
    _p(relu_and_friends, same_shape(2, shapes(1, 1, 6))),
    _p(sigmoid, st.tuples(matrices(lo=1, hi=3))),
    _p(reductions, st.tuples(arrays(st.integers(1, 3).flatmap(lambda k: shapes(k))))),
    _p(reductions_axis, st.tuples(matrices())),
    _p(dot_vectors, same_shape(2, shapes(1, 1, 6))),
    _p(matmul, _matmul_pair()),
    _p(matvec, _matvec_pair()),
    _p(transposes, st.tuples(matrices())),
    _p(reshapes, st.tuples(matrices())),
    _p(shape_reads, st.tuples(matrices())),
    _p(constructors, st.tuples(vectors(), ints(0, 4))),
    _p(integer_indexing, _vec_and_index()),
    _p(matrix_indexing, _matrix_and_indices()),
    _p(basic_slices, st.tuples(vectors())),
    _p(matrix_slices, st.tuples(matrices())),
    _p(index_loop_sum, st.tuples(vectors(0, 6))),
    _p(running_max_rows, st.tuples(matrices())),
    _p(row_norms_loop, st.tuples(matrices())),
    _p(softmax, st.tuples(vectors())),
    _p(mlp_layer, _layer()),
    _p(
        linear_regression_loss,
        st.tuples(ints(2, 5), ints(1, 3)).flatmap(
            lambda s: st.tuples(arrays((s[1],)), arrays((s[0], s[1])), arrays((s[0],)))
        ),
    ),
    _p(gradient_descent, _regression()),
    _p(int_arrays, same_shape(2, shapes(2), lo=-20, hi=20, dtype=np.int64)),
    _p(
        numpy_scalar_types,
        st.integers(1, 5).flatmap(
            lambda n: st.tuples(arrays((n,), -50, 50, dtype=np.int64), st.integers(-n, n - 1))
        ),
    ),
    _p(array_comparisons, same_shape(2, shapes(2), lo=-2, hi=2)),
    _p(one_d_shapes, st.tuples(vectors())),
    _p(index_out_of_bounds, st.tuples(vectors(1, 4), ints(-6, 6)), {"arrays", "raises"}),
    _p(broadcast_mismatch, st.tuples(vectors(1, 3), vectors(1, 3)), {"arrays", "raises"}),
    _p(bool_arrays, st.tuples(matrices())),
    _p(array_aug_assign, same_shape(2, shapes(1, 1, 5))),
    _p(scalars_from_arrays, st.tuples(vectors())),
    _p(pairwise_sq_dists, st.tuples(matrices())),
]
