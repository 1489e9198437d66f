"""Elementary functions on float64 that LLVM's loop vectorizer can vectorize.

`declare_math(module, name)` defines in `module` (once; internal linkage) the
scalar function `tl_<name>(double) -> double` and its vector variants
`tl_<name>_v2/_v4/_v8(<N x double>) -> <N x double>`, and returns the scalar
one. It carries LLVM's vector-function ABI attribute
(`"vector-function-abi-variant"="_ZGV_LLVM_N4v_tl_exp(tl_exp_v4),..."`), so a
loop that calls it is vectorized by the O2/O3 pipeline into calls of the
variant of its vectorization factor; it is `noinline` (inlined, the call the
attribute describes would be gone before the vectorizer runs) and
`memory(none) nounwind`, which the vectorizer needs. The variants are kept
alive until then through `@llvm.compiler.used`. A caller just calls the scalar
function; the call site needs no attribute.

Semantics are NumPy's float64 ufuncs': results within 1-2 ulp of `np.exp`
etc. over the whole double range, and exact special values (signed zeros,
infinities, nan propagation, overflow to inf, underflow through the
subnormals to 0, `log(0) = -inf`, `log(-1) = nan`). Every variant computes
each lane with the same code, so a result never depends on the vector width
or on the other lanes. The code is branch-free (range reduction, then
polynomials: fdlibm's, or Taylor's for exp), except for sin and cos:
lanes beyond their Cody-Waite reduction's range (|x| > 2^19 pi/2, inf) are
redone by libm's scalar function behind a branch that is only taken when
some lane needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from math import factorial

from llvmlite import ir

F64 = ir.DoubleType()
I64 = ir.IntType(64)
I1 = ir.IntType(1)
PTR = ir.PointerType()

#: The vector widths defined for every function, advertised to the vectorizer.
WIDTHS = (2, 4, 8)
#: libm's name for a function, where it differs from ours (NumPy's).
LIBM_NAME = {"arctan": "atan"}

_MAGIC = 6755399441055744.0  # 1.5 * 2**52: x + _MAGIC rounds x to an integer, in the low bits
_LOG2E = 1.44269504088896338700e00
_LN2_HI = 6.93147180369123816490e-01  # 0x3fe62e42fee00000: n * _LN2_HI is exact for |n| < 2^11
_LN2_LO = 1.90821492927058770002e-10
#: 1/2!, 1/3!, ..., 1/13!: e^r - 1 = r + r^2 (1/2 + r/6 + ...), error < 2^-57 for |r| <= ln2/2.
_EXPM1_TAYLOR = [1.0 / factorial(k) for k in range(2, 14)]


class Lanes:
    """Float64 arithmetic on `n` lanes at `b`'s position: doubles if n == 1, else `<n x double>`.

    Python floats and ints given as operands become splat constants. Nothing
    is reassociated or contracted: each operation rounds as IEEE says.
    """

    def __init__(self, b: ir.IRBuilder, n: int) -> None:
        self.b, self.n = b, n
        self.f: ir.Type = F64 if n == 1 else ir.VectorType(F64, n)
        self.i: ir.Type = I64 if n == 1 else ir.VectorType(I64, n)
        self.suffix = "f64" if n == 1 else f"v{n}f64"

    def splat(self, value: ir.Value | float | int, scalar: ir.Type) -> ir.Value:
        if isinstance(value, ir.Value):
            return value
        c = ir.Constant(scalar, value)
        return c if self.n == 1 else ir.Constant(ir.VectorType(scalar, self.n), [c] * self.n)

    def f64(self, value: ir.Value | float) -> ir.Value:
        return self.splat(value, F64)

    def i64(self, value: ir.Value | int) -> ir.Value:
        return self.splat(value, I64)

    def add(self, x: ir.Value | float, y: ir.Value | float) -> ir.Value:
        return self.b.fadd(self.f64(x), self.f64(y))

    def sub(self, x: ir.Value | float, y: ir.Value | float) -> ir.Value:
        return self.b.fsub(self.f64(x), self.f64(y))

    def mul(self, x: ir.Value | float, y: ir.Value | float) -> ir.Value:
        return self.b.fmul(self.f64(x), self.f64(y))

    def div(self, x: ir.Value | float, y: ir.Value | float) -> ir.Value:
        return self.b.fdiv(self.f64(x), self.f64(y))

    def intrinsic(self, name: str, *args: ir.Value | float) -> ir.Value:
        """`llvm.<name>` on these lanes (fma, fabs, copysign)."""
        full = f"llvm.{name}.{self.suffix}"
        fn = self.b.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.b.module, ir.FunctionType(self.f, [self.f] * len(args)), full)
        return self.b.call(fn, [self.f64(a) for a in args])

    def fma(self, x: ir.Value | float, y: ir.Value | float, z: ir.Value | float) -> ir.Value:
        return self.intrinsic("fma", x, y, z)

    def fabs(self, x: ir.Value) -> ir.Value:
        return self.intrinsic("fabs", x)

    def copysign(self, x: ir.Value, sign: ir.Value) -> ir.Value:
        return self.intrinsic("copysign", x, sign)

    def cmp(self, op: str, x: ir.Value, y: ir.Value | float) -> ir.Value:
        """Ordered comparison: false where either side is nan."""
        return self.b.fcmp_ordered(op, x, self.f64(y))

    def is_nan(self, x: ir.Value) -> ir.Value:
        return self.b.fcmp_unordered("uno", x, x)

    def select(self, cond: ir.Value, x: ir.Value | float, y: ir.Value | float) -> ir.Value:
        return self.b.select(cond, self.f64(x), self.f64(y))

    def bits(self, x: ir.Value) -> ir.Value:
        return self.b.bitcast(x, self.i)

    def from_bits(self, x: ir.Value) -> ir.Value:
        return self.b.bitcast(x, self.f)

    def to_f64(self, k: ir.Value) -> ir.Value:
        return self.b.sitofp(k, self.f)

    def horner(self, x: ir.Value, coefficients: list[float]) -> ir.Value:
        """c0 + x (c1 + x (c2 + ...)) with fused multiply-adds."""
        acc: ir.Value | float = coefficients[-1]
        for c in reversed(coefficients[:-1]):
            acc = self.fma(acc, x, c)
        return self.f64(acc)

    def round_int(self, x: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(x rounded to the nearest integer, as a double; the same as an i64), for |x| < 2^51.

        Defined (if meaningless) for any other x, nan and inf included, so lanes
        that a later select discards need no guard.
        """
        t = self.add(x, _MAGIC)
        return self.sub(t, _MAGIC), self.b.sub(self.bits(t), self.bits(self.f64(_MAGIC)))

    def pow2(self, k: ir.Value) -> ir.Value:
        """2.0^k for integer lanes k in [-1022, 1023]."""
        return self.from_bits(self.b.shl(self.b.add(k, self.i64(1023)), self.i64(52)))


# --- exp, expm1 and the hyperbolic functions ---------------------------------------------------


def _exp_reduce(v: Lanes, x: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(r, tail, n): x = n ln2 + r + tail', e^(r + tail') - 1 = r + tail, |r| <= ln2/2, for |x| < 2^40.

    r's rounding error (from n ln2's low part) is carried in the tail, so
    r + tail (rounded) is e^r' - 1 within about half an ulp; for n = 0, r is x.
    """
    nf, n = v.round_int(v.mul(x, _LOG2E))
    hi = v.fma(v.b.fneg(nf), _LN2_HI, x)  # exact
    lo = v.mul(nf, _LN2_LO)
    r = v.sub(hi, lo)
    err = v.sub(v.sub(hi, r), lo)
    return r, v.fma(v.mul(r, r), v.horner(r, _EXPM1_TAYLOR), err), n


def _scaled_exp(v: Lanes, r: ir.Value, tail: ir.Value, n: ir.Value, extra: int = 0) -> ir.Value:
    """e^x 2^extra from `_exp_reduce(x)`, rounded once even where it is subnormal, inf where it overflows.

    Expects n + extra in [-1100, 1100]: 2^n is applied as two normal factors.
    """
    em1 = v.add(r, tail)
    n1 = v.b.ashr(n, v.i64(1))
    n2 = v.b.add(v.b.sub(n, n1), v.i64(extra))
    s1 = v.pow2(n1)
    return v.mul(v.fma(s1, em1, s1), v.pow2(n2))


def _clamp(v: Lanes, x: ir.Value, low: float, high: float) -> ir.Value:
    """x limited to [low, high]; nan stays nan."""
    return v.select(v.cmp(">", x, high), high, v.select(v.cmp("<", x, low), low, x))


def _exp(v: Lanes, x: ir.Value) -> ir.Value:
    # beyond [-746, 709.8] e^x is 0 or inf already
    return _scaled_exp(v, *_exp_reduce(v, _clamp(v, x, -746.0, 709.8)))


def _expm1_parts(v: Lanes, r: ir.Value, tail: ir.Value, n: ir.Value) -> tuple[ir.Value, ir.Value]:
    """e^x - 1 as an unevaluated sum hi + lo from `_exp_reduce(x)`, for n in [-1022, 64].

    It is 2^n (r + tail) + (2^n - 1), where 2^n r and 2^n - 1 (|n| <= 53) are
    exact and their sum is kept as a double-double: |lo| <= ulp(hi) / 2, and
    hi + lo is within a tiny fraction of an ulp.
    """
    s = v.pow2(n)
    a, b = v.mul(s, r), v.sub(s, 1.0)
    hi = v.add(a, b)
    bb = v.sub(hi, a)
    err = v.add(v.sub(a, v.sub(hi, bb)), v.sub(b, bb))  # hi + err = a + b exactly
    lo = v.fma(s, tail, err)  # 2^n e^r's polynomial part: up to about |hi| / 3
    sum_ = v.add(hi, lo)
    return sum_, v.sub(lo, v.sub(sum_, hi))


def _expm1_from(v: Lanes, r: ir.Value, tail: ir.Value, n: ir.Value) -> ir.Value:
    """e^x - 1 from `_exp_reduce(x)`, for n in [-1022, 64], rounded about once."""
    return _expm1_parts(v, r, tail, n)[0]


def _expm1(v: Lanes, x: ir.Value) -> ir.Value:
    xc = _clamp(v, x, -60.0, 709.8)  # below -60, e^x - 1 rounds to -1
    reduced = _exp_reduce(v, xc)
    # above 40, the -1 is below half an ulp of e^x
    result = v.select(v.cmp(">", xc, 40.0), _scaled_exp(v, *reduced), _expm1_from(v, *reduced))
    return v.select(v.cmp("==", x, 0.0), x, result)  # -0 stays -0


def _tanh(v: Lanes, x: ir.Value) -> ir.Value:
    # fdlibm: |x| >= 1: 1 - 2 / (t + 2) with t = e^2|x| - 1; else -t / (t + 2) with t = e^-2|x| - 1,
    # there in double-double: t, t + 2 and the quotient's remainder
    a = v.fabs(x)
    big = v.cmp(">=", a, 1.0)
    arg = v.select(big, v.select(v.cmp(">", a, 20.0), 40.0, v.add(a, a)), v.mul(a, -2.0))
    t, t_lo = _expm1_parts(v, *_exp_reduce(v, arg))
    d = v.add(t, 2.0)
    d_lo = v.add(v.add(v.sub(2.0, d), t), t_lo)  # d + d_lo = t + t_lo + 2 (t <= 0 here)
    q = v.div(v.b.fneg(t), d)
    rem = v.fma(v.b.fneg(q), d, v.b.fneg(t))  # exact: -t - q d
    small = v.add(q, v.div(v.sub(v.sub(rem, t_lo), v.mul(q, d_lo)), d))
    large = v.sub(1.0, v.div(2.0, v.add(d, t_lo)))
    return v.copysign(v.select(big, large, small), x)


def _sinh(v: Lanes, x: ir.Value) -> ir.Value:
    # below 22: sinh|x| = (t + t / (t + 1)) / 2 with t = e^|x| - 1 (no cancellation), in
    # double-double: t, t + 1, the quotient's remainder and the sum; above: e^|x| / 2
    a = v.fabs(x)
    reduced = _exp_reduce(v, v.select(v.cmp(">", a, 711.0), 711.0, a))
    t, t_lo = _expm1_parts(v, *reduced)  # used below 22 only
    d = v.add(t, 1.0)
    bb = v.sub(d, t)
    d_lo = v.add(v.add(v.sub(t, v.sub(d, bb)), v.sub(1.0, bb)), t_lo)  # d + d_lo = t + t_lo + 1
    q = v.div(t, d)
    q_lo = v.div(v.sub(v.add(v.fma(v.b.fneg(q), d, t), t_lo), v.mul(q, d_lo)), d)
    total = v.add(t, q)
    total_lo = v.add(v.sub(q, v.sub(total, t)), v.add(t_lo, q_lo))
    small = v.mul(v.add(total, total_lo), 0.5)
    return v.copysign(v.select(v.cmp("<", a, 22.0), small, _scaled_exp(v, *reduced, -1)), x)


def _cosh(v: Lanes, x: ir.Value) -> ir.Value:
    # fdlibm: 1 + t^2 / (2 (1 + t)) with t = e^|x| - 1 below ln2/2; else e^|x|/2 + 1/(2 e^|x|)
    a = v.fabs(x)
    r, tail, n = _exp_reduce(v, v.select(v.cmp(">", a, 711.0), 711.0, a))
    h = _scaled_exp(v, r, tail, n, -1)
    em1 = v.add(r, tail)
    w = v.add(em1, 1.0)
    near0 = v.add(1.0, v.div(v.mul(em1, em1), v.add(w, w)))
    far = v.add(h, v.div(0.25, h))
    return v.select(v.b.icmp_signed("==", n, v.i64(0)), near0, far)


# --- log and log1p (fdlibm e_log.c, s_log1p.c) -------------------------------------------------

_LG = [6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
       2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
       1.479819860511658591e-01]  # fmt: skip
_SQRT2_HALF_M1 = -0.2928932188134524  # sqrt(2)/2 - 1
_SQRT2_M1 = 0.41421356237309503  # sqrt(2) - 1


def _split(v: Lanes, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(k, f) with x = 2^k (1 + f), 1 + f in [sqrt(2)/2, sqrt(2)), for positive finite x.

    Subnormal x are scaled by 2^54 first.
    """
    b = v.b
    subnormal = v.cmp("<", x, 2.2250738585072014e-308)
    bits = v.bits(v.select(subnormal, v.mul(x, 2.0**54), x))
    k = b.sub(b.lshr(bits, v.i64(52)), b.select(subnormal, v.i64(1023 + 54), v.i64(1023)))
    mantissa = b.and_(bits, v.i64((1 << 52) - 1))
    # 1 << 52 where the mantissa is >= sqrt(2): that one is halved, and k incremented
    up = b.and_(b.add(mantissa, v.i64(0x95F64 << 32)), v.i64(1 << 52))
    m = v.from_bits(b.or_(mantissa, b.xor(up, v.i64(0x3FF << 52))))
    return b.add(k, b.lshr(up, v.i64(52))), v.sub(m, 1.0)


def _log1p_kernel(v: Lanes, k: ir.Value, f: ir.Value, c: ir.Value | float) -> ir.Value:
    """k ln2 + log(1 + f) + c, |c| tiny, for 1 + f in [sqrt(2)/2, sqrt(2))."""
    s = v.div(f, v.add(f, 2.0))
    z = v.mul(s, s)
    w = v.mul(z, z)
    r = v.add(v.mul(z, v.horner(w, _LG[0::2])), v.mul(w, v.horner(w, _LG[1::2])))
    hfsq = v.mul(v.mul(f, f), 0.5)
    dk = v.to_f64(k)
    inner = v.sub(hfsq, v.add(v.mul(s, v.add(hfsq, r)), v.fma(dk, _LN2_LO, c)))
    return v.sub(v.mul(dk, _LN2_HI), v.sub(inner, f))


def _log_specials(v: Lanes, x: ir.Value, zero_at: float, result: ir.Value) -> ir.Value:
    """`result` with log's special values: -inf at `zero_at`, nan below, inf at inf, nan kept."""
    result = v.select(v.cmp("==", x, float("inf")), x, result)
    result = v.select(v.cmp("==", x, zero_at), float("-inf"), result)
    result = v.select(v.cmp("<", x, zero_at), float("nan"), result)
    return v.select(v.is_nan(x), x, result)


def _log(v: Lanes, x: ir.Value) -> ir.Value:
    k, f = _split(v, x)
    return _log_specials(v, x, 0.0, _log1p_kernel(v, k, f, 0.0))


def _log1p(v: Lanes, x: ir.Value) -> ir.Value:
    # Near 0, f is x itself; else u = 1 + x is split, and c / u corrects u's rounding.
    u = v.add(x, 1.0)
    k, f = _split(v, u)
    # the rounding error of u, from the subtraction that is exact (Sterbenz)
    c = v.select(v.cmp(">=", u, 2.0), v.sub(1.0, v.sub(u, x)), v.sub(x, v.sub(u, 1.0)))
    near0 = v.b.and_(v.cmp(">=", x, _SQRT2_HALF_M1), v.cmp("<", x, _SQRT2_M1))
    k = v.b.select(near0, v.i64(0), k)
    f = v.select(near0, x, f)
    c = v.select(near0, 0.0, v.div(c, u))
    result = _log1p_kernel(v, k, f, c)
    return _log_specials(v, x, -1.0, v.select(v.cmp("==", x, 0.0), x, result))


# --- sin, cos (fdlibm k_sin.c, k_cos.c, e_rem_pio2.c) ------------------------------------

#: |x| up to which the three-part Cody-Waite reduction is exact (fdlibm's medium range).
TRIG_LIMIT = 2.0**19 * 1.5707963267948966
_INV_PIO2 = 6.36619772367581382433e-01
# pi/2 in 33-bit parts (n * part is exact for |n| < 2^20), each with the rest of pi/2 after it
_PIO2 = [(1.57079632673412561417e00, 6.07710050650619224932e-11),
         (6.07710050630396597660e-11, 2.02226624879595063154e-21),
         (2.02226624871116645580e-21, 8.47842766036889956997e-32)]  # fmt: skip
_S = [-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
      2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10]  # fmt: skip
_C = [4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
      -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11]  # fmt: skip


def _rem_pio2(v: Lanes, x: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(n, y0, y1): x = n pi/2 + y0 + y1, |y0 + y1| <= pi/4 (a bit more), for |x| <= TRIG_LIMIT."""
    nf, n = v.round_int(v.mul(x, _INV_PIO2))
    r = v.fma(v.b.fneg(nf), _PIO2[0][0], x)  # exact
    w: ir.Value | None = None
    for part, rest in _PIO2[1:]:
        t = r
        w = v.mul(nf, part)
        r = v.sub(t, w)
        w = v.sub(v.mul(nf, rest), v.sub(v.sub(t, r), w))
    assert w is not None
    y0 = v.sub(r, w)
    return n, y0, v.sub(v.sub(r, y0), w)


def _ksin(v: Lanes, x: ir.Value, y: ir.Value) -> ir.Value:
    """sin(x + y) for |x + y| <= pi/4, y tiny beside x."""
    z = v.mul(x, x)
    r = v.horner(z, _S[1:])
    vv = v.mul(z, x)
    return v.sub(x, v.sub(v.sub(v.mul(z, v.sub(v.mul(y, 0.5), v.mul(vv, r))), y), v.mul(vv, _S[0])))


def _kcos(v: Lanes, x: ir.Value, y: ir.Value) -> ir.Value:
    """cos(x + y) for |x + y| <= pi/4, y tiny beside x."""
    z = v.mul(x, x)
    r = v.mul(z, v.horner(z, _C))
    hz = v.mul(z, 0.5)
    w = v.sub(1.0, hz)
    return v.add(w, v.add(v.sub(v.sub(1.0, w), hz), v.sub(v.mul(z, r), v.mul(x, y))))


def _quadrant(v: Lanes, n: ir.Value, bit: int) -> ir.Value:
    """Whether bit `bit` of n is set, lane-wise."""
    return v.b.icmp_signed("!=", v.b.and_(n, v.i64(bit)), v.i64(0))


def _sin_cos(v: Lanes, x: ir.Value, shift: int) -> ir.Value:
    """sin(x + shift pi/2): shift 0 is sin, 1 is cos."""
    n, y0, y1 = _rem_pio2(v, x)
    n = v.b.add(n, v.i64(shift))
    s, c = _ksin(v, y0, y1), _kcos(v, y0, y1)
    value = v.select(_quadrant(v, n, 1), c, s)
    return v.select(_quadrant(v, n, 2), v.b.fneg(value), value)


def _sin(v: Lanes, x: ir.Value) -> ir.Value:
    return v.select(v.cmp("<", v.fabs(x), 2.0**-26), x, _sin_cos(v, x, 0))


def _cos(v: Lanes, x: ir.Value) -> ir.Value:
    return _sin_cos(v, x, 1)


# --- arctan (fdlibm s_atan.c) -----------------------------------------------------------------

# (|x| below which the interval starts, atan(c) hi, lo) for the intervals around c = 1/2, 1, 3/2, inf
_ATAN = [(7 / 16, 4.63647609000806093515e-01, 2.26987774529616870924e-17),
         (11 / 16, 7.85398163397448278999e-01, 3.06161699786838301793e-17),
         (19 / 16, 9.82793723247329054082e-01, 1.39033110312309984516e-17),
         (39 / 16, 1.57079632679489655800e00, 6.12323399573676603587e-17)]  # fmt: skip
_AT = [3.33333333333329318027e-01, -1.99999999998764832476e-01, 1.42857142725034663711e-01,
       -1.11111104054623557880e-01, 9.09088713343650656196e-02, -7.69187620504482999495e-02,
       6.66107313738753120669e-02, -5.83357013379057348645e-02, 4.97687799461593236017e-02,
       -3.65315727442169155270e-02, 1.62858201153657823623e-02]  # fmt: skip


def _arctan(v: Lanes, x: ir.Value) -> ir.Value:
    a = v.fabs(x)
    # atan|x| = atan(c) + atan(t), t = (|x| - c) / (1 + c|x|), written to round once each
    reduced = [(v.sub(v.add(a, a), 1.0), v.add(a, 2.0)), (v.sub(a, 1.0), v.add(a, 1.0)),
               (v.sub(a, 1.5), v.fma(a, 1.5, 1.0)), (v.f64(-1.0), a)]  # fmt: skip
    num, den, hi, lo = a, v.f64(1.0), v.f64(0.0), v.f64(0.0)
    for (start, c_hi, c_lo), (c_num, c_den) in zip(_ATAN, reduced, strict=True):
        inside = v.b.not_(v.cmp("<", a, start))  # nan takes the last interval: nan throughout
        num, den = v.select(inside, c_num, num), v.select(inside, c_den, den)
        hi, lo = v.select(inside, c_hi, hi), v.select(inside, c_lo, lo)
    t = v.div(num, den)
    z = v.mul(t, t)
    w = v.mul(z, z)
    sum_ = v.add(v.mul(z, v.horner(w, _AT[0::2])), v.mul(w, v.horner(w, _AT[1::2])))
    value = v.sub(hi, v.sub(v.sub(v.mul(t, sum_), lo), t))  # hi + lo + t - t sum_
    return v.copysign(value, x)


#: name -> the code of one lane set (NumPy's name, as in `np.<name>`).
KERNELS: dict[str, Callable[[Lanes, ir.Value], ir.Value]] = {
    "exp": _exp, "expm1": _expm1, "log": _log, "log1p": _log1p, "tanh": _tanh, "sinh": _sinh,
    "cosh": _cosh, "sin": _sin, "cos": _cos, "arctan": _arctan,
}  # fmt: skip
#: name -> |x| beyond which the kernel is wrong and libm's function redoes the lane.
REDUCED_RANGE = {"sin": TRIG_LIMIT, "cos": TRIG_LIMIT}


# --- the functions ----------------------------------------------------------------------------


class _Attributes(ir.FunctionAttributes):
    """Function attributes plus LLVM string attributes (`"key"="value"`), which llvmlite lacks."""

    def __init__(self, names: tuple[str, ...], strings: dict[str, str]) -> None:
        super().__init__(names)
        self.strings = strings

    def _to_list(self, ret_type: ir.Type) -> list[str]:
        return [*super()._to_list(ret_type), *(f'"{k}"="{v}"' for k, v in self.strings.items())]


def _libm(module: ir.Module, name: str) -> ir.Function:
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(F64, [F64]), name)
        fn.attributes = _Attributes(("nounwind", "readnone"), {})
    assert isinstance(fn, ir.Function)
    return fn


def _redo_with_libm(v: Lanes, x: ir.Value, fast: ir.Value, limit: float, fn: ir.Function) -> ir.Value:
    """`fast`, with the lanes where |x| > limit (or inf) replaced by `fn(x)`, behind a branch."""
    b = v.b
    slow = v.cmp(">", v.fabs(x), limit)
    if v.n == 1:
        any_slow = slow
    else:
        reduce = f"llvm.vector.reduce.or.v{v.n}i1"
        intrinsic = b.module.globals.get(reduce) or ir.Function(b.module, ir.FunctionType(I1, [slow.type]), reduce)
        any_slow = b.call(intrinsic, [slow])
    before = b.block
    with b.if_then(any_slow, likely=False):
        if v.n == 1:
            redone = b.call(fn, [x])
        else:
            redone = fast
            for lane in range(v.n):
                i = ir.Constant(ir.IntType(32), lane)
                value = b.select(b.extract_element(slow, i), b.call(fn, [b.extract_element(x, i)]), b.extract_element(fast, i))
                redone = b.insert_element(redone, value, i)
        slow_end = b.block
    result = b.phi(v.f)
    result.add_incoming(fast, before)
    result.add_incoming(redone, slow_end)
    return result


def _define(module: ir.Module, name: str, n: int, symbol: str, attributes: _Attributes) -> ir.Function:
    """`symbol`: internal function computing `name` on n lanes."""
    v = Lanes(ir.IRBuilder(), n)
    fn = ir.Function(module, ir.FunctionType(v.f, [v.f]), symbol)
    fn.linkage = "internal"
    fn.attributes = attributes
    v.b.position_at_end(fn.append_basic_block("entry"))
    x = fn.args[0]
    result = KERNELS[name](v, x)
    if name in REDUCED_RANGE:
        result = _redo_with_libm(v, x, result, REDUCED_RANGE[name], _libm(module, LIBM_NAME.get(name, name)))
    v.b.ret(result)
    return fn


def _keep(module: ir.Module, functions: list[ir.Function]) -> None:
    """Add `functions` to `@llvm.compiler.used`: no pass deletes them before the vectorizer calls them."""
    used = module.globals.get("llvm.compiler.used")
    if used is None:
        used = ir.GlobalVariable(module, ir.ArrayType(PTR, 0), "llvm.compiler.used")
        used.linkage = "appending"
        used.section = "llvm.metadata"
        used.initializer = ir.Constant(ir.ArrayType(PTR, 0), [])
    assert isinstance(used, ir.GlobalVariable)
    kept = [*used.initializer.constant, *functions]
    used.value_type = ir.ArrayType(PTR, len(kept))
    used.initializer = ir.Constant(used.value_type, kept)


def vector_abi_variants(symbol: str) -> str:
    """The value of `symbol`'s "vector-function-abi-variant" attribute: LLVM's VFABI mangling of
    `<symbol>_v<N>` as its N-lane variant, N in `WIDTHS`, for one vector argument."""
    return ",".join(f"_ZGV_LLVM_N{n}v_{symbol}({symbol}_v{n})" for n in WIDTHS)


def declare_math(module: ir.Module, name: str) -> ir.Function:
    """The function `tl_<name>(double) -> double` of `module`, defined on the first call.

    `name` is a key of `KERNELS`. See the module docstring for what is
    defined and what a loop calling the function becomes.
    """
    symbol = f"tl_{name}"
    existing = module.globals.get(symbol)
    if existing is not None:
        assert isinstance(existing, ir.Function)
        return existing
    pure = ("nounwind", "readnone")
    variants = [_define(module, name, n, f"{symbol}_v{n}", _Attributes(pure, {})) for n in WIDTHS]
    _keep(module, variants)
    scalar_attributes = _Attributes((*pure, "noinline"), {"vector-function-abi-variant": vector_abi_variants(symbol)})
    return _define(module, name, 1, symbol, scalar_attributes)
