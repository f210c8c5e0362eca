"""Gradients of NumPy's products: matmul (``@``), dot, vdot, inner, outer, tensordot, einsum,
kron, cross, vecdot, matvec, vecmat and ``np.linalg``'s matmul, outer, tensordot, vecdot, cross
and multi_dot.

Vectors, matrices and stacks of matrices where NumPy broadcasts them (the framework sums the
gradients of broadcast arguments back). ``np.einsum`` takes any subscripts: explicit or implicit
output, ellipses, repeated indices (traces and diagonals such as ``'ii->i'``, ``'ii'``,
``'iij->j'``), indices summed in one operand only, any number of operands, the interleaved
(sublist) calling form and ``optimize=`` (the gradient einsums use the same setting; an
explicit contraction path, which fits the forward call only, becomes ``optimize=True``). The
gradient of each operand is itself an einsum; an operand with a repeated index receives its
gradient on that diagonal through the primitive ``einsum_embed``, whose own gradient is again
an einsum, so every order works. The gufuncs (matmul, vecdot, matvec, vecmat) honour
``axes=``, ``axis=`` and ``keepdims=``. ``np.einsum_path`` has no gradient (it returns a
contraction order).

Skipped here, on purpose: complex arguments (vdot, vecdot and inner conjugate nothing here; the
rules are those of real arrays), and the gufuncs' ``out=`` (refused while recording, as
everywhere). Matrix decompositions and solvers are in ``linalg.py``.
"""

from __future__ import annotations

import string
from collections import Counter

import numpy as np

from ..backend import array_module
from ..primitive import Primitive, primitive, raw, register, zerograd


def _T(x):  # noqa: N802 - the matrix transpose of the last two axes
    return np.swapaxes(x, -1, -2)


def _gufunc(fn, *grads):
    """Register gufunc ``fn`` so that its rules receive the call's keywords (``axes=`` ...).

    ``primitive`` drops a ufunc's keywords before the rules see them (for elementwise ufuncs
    they only shape the value); a gufunc's ``axes``/``axis``/``keepdims`` move its core
    dimensions, which its gradient must know.
    """
    register(fn, Primitive(fn, grads))


# -- gufunc core axes --------------------------------------------------------------------


def _core_axes(kwargs, ndims, cores, name):
    """The core axes of each input and of the output, from ``axes``/``axis``/``keepdims``.

    ``ndims`` are the input ranks, ``cores`` the core dimension counts (inputs, then output).
    Returns ``None`` for the default (trailing core dimensions, no kept axes).
    """
    axes, axis = kwargs.get("axes"), kwargs.get("axis")
    keep = bool(kwargs.get("keepdims", False))
    if axes is None and axis is None and not keep:
        return None
    if axes is not None:
        spec = [tuple(a) if isinstance(a, (tuple, list)) else (a,) for a in axes]
        if len(spec) == len(ndims):
            spec.append(())
    elif axis is not None:
        spec = [(axis,)] * len(ndims) + [()]
    else:
        spec = [tuple(range(-k, 0)) for k in cores[:-1]] + [()]
    if keep:
        if cores[-1] != 0:
            raise ValueError(f"{name}: keepdims=True needs an output without core dimensions, "
                             f"but the output has {cores[-1]}; drop keepdims")
        spec[-1] = spec[0]
    for s, k in zip(spec, (*cores[:-1], len(spec[0]) if keep else cores[-1]), strict=True):
        if len(s) != k:
            raise ValueError(f"{name}: axes={axes!r} does not fit core dimensions {cores}")
    return spec


def _to_end(x, axes):
    nd = np.ndim(x)
    src = [int(a) % nd for a in axes]
    dst = list(range(nd - len(axes), nd))
    return x if src == dst else np.moveaxis(x, src, dst)


def _from_end(g, axes, ndim_like):
    """Move ``g``'s trailing core axes back to ``axes`` (given for an argument of rank
    ``ndim_like``; ``g`` may have extra leading broadcast axes)."""
    k = len(axes)
    dst = [int(a) % ndim_like - ndim_like for a in axes]
    src = list(range(-k, 0))
    return g if src == dst else np.moveaxis(g, src, dst)


def _with_core_axes(canonical, pos, cores_of, name):
    """A rule for argument ``pos`` of a two-argument gufunc from its trailing-axes version."""

    def rule(dy, y, a, b, **kwargs):
        if not kwargs:  # the common case: core dimensions trailing
            return canonical(dy, y, a, b)
        ndims = (np.ndim(a), np.ndim(b))
        spec = _core_axes(kwargs, ndims, cores_of(*ndims), name)
        if spec is None:
            return canonical(dy, y, a, b)
        a_c, b_c = _to_end(a, spec[0]), _to_end(b, spec[1])
        out_axes = spec[2]
        dy_c = _to_end(dy, out_axes) if out_axes else dy
        if kwargs.get("keepdims", False):
            dy_c = np.squeeze(dy_c, tuple(range(-len(out_axes), 0)))
        g = canonical(dy_c, None, a_c, b_c)
        return _from_end(g, spec[pos], ndims[pos])

    return rule


# -- matmul and dot ----------------------------------------------------------------------


def _grad_matmul_a(dy, y, a, b):
    nb = np.ndim(b)
    if nb == 1:
        return dy * b if np.ndim(a) == 1 else np.expand_dims(dy, -1) * b
    if np.ndim(a) == 1:
        if nb == 2:
            return np.matmul(b, dy)
        return np.squeeze(np.matmul(np.expand_dims(dy, -2), _T(b)), -2)
    return np.matmul(dy, _T(b))


def _grad_matmul_b(dy, y, a, b):
    na = np.ndim(a)
    if na == 1:
        return dy * a if np.ndim(b) == 1 else np.expand_dims(a, -1) * np.expand_dims(dy, -2)
    if np.ndim(b) == 1:
        if na == 2:
            return np.matmul(_T(a), dy)
        return np.squeeze(np.matmul(_T(a), np.expand_dims(dy, -1)), -1)
    return np.matmul(_T(a), dy)


def _matmul_cores(na, nb):
    ka, kb = min(na, 2), min(nb, 2)
    return ka, kb, (ka == 2) + (kb == 2)


_gufunc(np.matmul, _with_core_axes(_grad_matmul_a, 0, _matmul_cores, "np.matmul"),
        _with_core_axes(_grad_matmul_b, 1, _matmul_cores, "np.matmul"))
primitive(np.linalg.matmul, _grad_matmul_a, _grad_matmul_b)


def _grad_dot_a(dy, y, a, b, out=None):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return dy * b
    if np.ndim(b) <= 2:  # then dot is matmul
        return _grad_matmul_a(dy, y, a, b)
    # dot(a, b)[i.., j.., m] = sum_k a[i.., k] b[j.., k, m]
    nb = np.ndim(b)
    dy_axes = list(range(np.ndim(a) - 1, np.ndim(dy)))
    return np.tensordot(dy, b, axes=(dy_axes, [*range(nb - 2), nb - 1]))


def _grad_dot_b(dy, y, a, b, out=None):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return dy * a
    if np.ndim(b) <= 2:
        return _grad_matmul_b(dy, y, a, b)
    lead = list(range(np.ndim(a) - 1))
    g = np.tensordot(a, dy, axes=(lead, lead))  # (k, j.., m)
    return np.moveaxis(g, 0, -2)


primitive(np.dot, _grad_dot_a, _grad_dot_b)

# -- vdot, inner, outer ------------------------------------------------------------------

primitive(np.vdot,
          lambda dy, y, a, b: np.reshape(dy * np.ravel(b), np.shape(a)),
          lambda dy, y, a, b: np.reshape(dy * np.ravel(a), np.shape(b)))


def _grad_inner_a(dy, y, a, b):
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return dy * b
    return np.tensordot(dy, b, axes=(list(range(na - 1, na + nb - 2)), list(range(nb - 1))))


def _grad_inner_b(dy, y, a, b):
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return dy * a
    return np.tensordot(dy, a, axes=(list(range(na - 1)), list(range(na - 1))))


primitive(np.inner, _grad_inner_a, _grad_inner_b)


def _grad_outer_a(dy, y, a, b, out=None):
    return np.reshape(np.matmul(dy, np.ravel(b)), np.shape(a))


def _grad_outer_b(dy, y, a, b, out=None):
    return np.reshape(np.matmul(np.ravel(a), dy), np.shape(b))


primitive(np.outer, _grad_outer_a, _grad_outer_b)
primitive(np.linalg.outer, _grad_outer_a, _grad_outer_b)

# -- tensordot ---------------------------------------------------------------------------


def _tensordot_axes(na, nb, axes):
    """``axes`` (an int, or a pair of ints or sequences) as two lists of non-negative axes."""
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        return list(range(na - n, na)), list(range(n))
    axa, axb = axes
    axa = [axa] if isinstance(axa, (int, np.integer)) else list(axa)
    axb = [axb] if isinstance(axb, (int, np.integer)) else list(axb)
    return [int(i) % na for i in axa], [int(i) % nb for i in axb]


def _inverse(perm):
    return tuple(sorted(range(len(perm)), key=perm.__getitem__))


def _contract(x, z, axes_x, axes_z):
    """``np.tensordot(x, z, axes=(axes_x, axes_z))``; with nothing to contract, the outer
    product written as a broadcast product (CuPy's tensordot refuses a 0-d operand there)."""
    if not axes_x:
        return np.reshape(x, np.shape(x) + (1,) * np.ndim(z)) * z
    return np.tensordot(x, z, axes=(axes_x, axes_z))


def _grad_tensordot_a(dy, y, a, b, axes=2):
    na, nb = np.ndim(a), np.ndim(b)
    axa, axb = _tensordot_axes(na, nb, axes)
    free_a = [i for i in range(na) if i not in axa]
    free_b = [j for j in range(nb) if j not in axb]
    k = len(free_a)
    g = _contract(dy, b, list(range(k, k + len(free_b))), free_b)
    # g's axes: a's free axes, then a's partners of b's contracted axes in b's order
    src = free_a + [axa[axb.index(j)] for j in sorted(axb)]
    return np.transpose(g, _inverse(src))


def _grad_tensordot_b(dy, y, a, b, axes=2):
    na, nb = np.ndim(a), np.ndim(b)
    axa, axb = _tensordot_axes(na, nb, axes)
    free_a = [i for i in range(na) if i not in axa]
    free_b = [j for j in range(nb) if j not in axb]
    g = _contract(a, dy, free_a, list(range(len(free_a))))
    # g's axes: b's partners of a's contracted axes in a's order, then b's free axes
    src = [axb[axa.index(i)] for i in sorted(axa)] + free_b
    return np.transpose(g, _inverse(src))


primitive(np.tensordot, _grad_tensordot_a, _grad_tensordot_b)
primitive(np.linalg.tensordot, _grad_tensordot_a, _grad_tensordot_b)

# -- einsum ------------------------------------------------------------------------------

# Upper case first, as NumPy numbers the labels of einsum's sublist form (0-25 are A-Z): then
# the implicit output, in ASCII order, is in the order of the integer labels.
_LETTERS = string.ascii_uppercase + string.ascii_lowercase


def _sublist_letters(sub):
    parts = []
    for s in sub:
        if s is Ellipsis:
            parts.append("...")
        else:
            parts.append(_LETTERS[int(s)])
    return "".join(parts)


def _einsum_args(args, kwargs):
    """``np.einsum``'s interleaved form ``(op0, sub0, op1, sub1, ..., [out])`` as a string."""
    if isinstance(args[0], str):
        return args, kwargs
    ops, subs = list(args[0::2]), list(args[1::2])
    terms = ",".join(_sublist_letters(s) for s in subs[: len(ops)])
    if len(args) % 2:  # an output sublist at the end
        ops.pop()
        terms = ",".join(_sublist_letters(s) for s in subs) + "->" + _sublist_letters(args[-1])
    return (terms, *ops), kwargs


def _einsum_terms(subscripts, shapes):
    """The input terms and the output term of ``subscripts``, ellipses spelled out as letters.

    The output of the implicit form is NumPy's: the ellipsis axes, then the letters that occur
    once, in alphabetical (ASCII) order.
    """
    s = subscripts.replace(" ", "")
    ins, arrow, out = s.partition("->")
    terms = ins.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"np.einsum: subscripts {subscripts!r} name {len(terms)} operands, "
                         f"but {len(shapes)} were given")
    spare = [c for c in _LETTERS if c not in s]
    rank = max((len(shp) - len(t) + 3 for t, shp in zip(terms, shapes, strict=True)
                if "..." in t), default=0)
    ell = "".join(spare[:rank])
    terms = [t.replace("...", ell[rank - (len(shp) - len(t) + 3):] if rank else "")
             for t, shp in zip(terms, shapes, strict=True)]
    if arrow:
        return terms, out.replace("...", ell)
    counts = Counter("".join(terms))
    return terms, ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))


def einsum_embed(g, src, dst, shape):
    """Zeros of ``shape`` (indexed by ``dst``, which repeats letters) with ``g`` (indexed by
    ``src``, each letter once) written on the diagonal the repeated letters make.

    The adjoint of ``np.einsum(dst + '->' + src, x)``, which reads that diagonal.
    """
    xp = array_module(g)
    out = xp.zeros(shape, dtype=np.result_type(g))
    index = []
    for c in dst:
        i = src.index(c)
        n = shape[dst.index(c)]
        index.append(xp.arange(n).reshape([-1 if j == i else 1 for j in range(len(src))]))
    out[tuple(index)] = g
    return out


einsum_embed = primitive(einsum_embed,
                         lambda dy, y, g, src, dst, shape: np.einsum(f"{dst}->{src}", dy),
                         None, None, None, name="einsum_embed")


def _optimize_for_gradients(kwargs):
    """An ``optimize`` setting for the gradient einsums (a path given for the forward call
    does not fit them: those use NumPy's own choice)."""
    opt = kwargs.get("optimize", False)
    return opt if isinstance(opt, (bool, str)) else True


def _einsum_grad(k, dy, subscripts, operands, kwargs):
    shapes = [np.shape(o) for o in operands]
    terms, out = _einsum_terms(subscripts, shapes)
    term, shape = terms[k], shapes[k]
    others = [(t, o) for j, (t, o) in enumerate(zip(terms, operands, strict=True)) if j != k]
    uniq = "".join(dict.fromkeys(term))
    reachable = set(out).union(*(t for t, _ in others))
    have = "".join(c for c in uniq if c in reachable)
    spec = ",".join([out, *(t for t, _ in others)]) + "->" + have
    g = np.einsum(spec, dy, *(o for _, o in others),
                  optimize=_optimize_for_gradients(kwargs))
    size = {c: n for c, n in zip(term, shape, strict=True)}
    # axes the operand has with size 1 that others broadcast: summed back here, so that the
    # diagonal below is written at the operand's own sizes
    wide = tuple(i for i, c in enumerate(have) if size[c] == 1 and np.shape(g)[i] != 1)
    if wide:
        g = np.sum(g, axis=wide, keepdims=True)
    if len(have) < len(uniq):  # letters summed in this operand only: the gradient is constant
        missing = tuple(i for i, c in enumerate(uniq) if c not in reachable)
        g = np.broadcast_to(np.expand_dims(g, missing), tuple(size[c] for c in uniq))
    if len(uniq) < len(term):  # a repeated letter: the gradient lives on that diagonal
        return einsum_embed(g, uniq, term, tuple(shape))
    return g


def _einsum_rule(k):
    def rule(dy, y, subscripts, *operands, **kwargs):
        return _einsum_grad(k, dy, subscripts, operands, kwargs)

    rule.__name__ = f"_grad_einsum_{k}"
    return rule


# One rule per operand position (up to 52, NumPy's own limit of letters), so that only the
# operands that are tracked get a gradient computed.
register(np.einsum, Primitive(np.einsum, (None, *(_einsum_rule(k) for k in range(52))),
                              adapter=_einsum_args))
zerograd(np.einsum_path)

# -- kron --------------------------------------------------------------------------------


def _kron_grad(dy, a, b, wrt_a):
    na, nb = np.ndim(a), np.ndim(b)
    nd = max(na, nb)
    sa = (1,) * (nd - na) + tuple(np.shape(a))
    sb = (1,) * (nd - nb) + tuple(np.shape(b))
    la, lb = _LETTERS[:nd], _LETTERS[26:26 + nd]  # a's axes A B C ..., b's a b c ...
    d = np.reshape(dy, tuple(n for pair in zip(sa, sb, strict=True) for n in pair))
    dsub = "".join(p + q for p, q in zip(la, lb, strict=True))
    if wrt_a:
        g = np.einsum(f"{dsub},{lb}->{la}", d, np.reshape(b, sb))
        return np.reshape(g, np.shape(a))
    g = np.einsum(f"{dsub},{la}->{lb}", d, np.reshape(a, sa))
    return np.reshape(g, np.shape(b))


primitive(np.kron,
          lambda dy, y, a, b: _kron_grad(dy, a, b, True),
          lambda dy, y, a, b: _kron_grad(dy, a, b, False))

# -- cross -------------------------------------------------------------------------------


def _pad3(v):
    """Vectors along the last axis, 2-vectors padded with a zero third component."""
    if np.shape(v)[-1] == 3:
        return v
    return np.concatenate([v, np.zeros_like(raw(v)[..., :1])], axis=-1)


def _cross_grads(dy, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    na, nb = np.ndim(a), np.ndim(b)
    va = np.moveaxis(a, axisa, -1) if na > 1 else a
    vb = np.moveaxis(b, axisb, -1) if nb > 1 else b
    ka, kb = np.shape(va)[-1], np.shape(vb)[-1]
    if ka == 2 and kb == 2:  # the result is the third component alone
        d = np.expand_dims(dy, -1)
        zero = np.zeros_like(raw(d))
        d = np.concatenate([zero, zero, d], axis=-1)
    else:
        d = np.moveaxis(dy, axisc, -1) if np.ndim(dy) > 1 else dy
    # <d, a x b> = <a, b x d> = <b, d x a>
    ga = np.cross(_pad3(vb), d)[..., :ka]
    gb = np.cross(d, _pad3(va))[..., :kb]
    return (np.moveaxis(ga, -1, int(axisa) % na - na),
            np.moveaxis(gb, -1, int(axisb) % nb - nb))


primitive(np.cross,
          lambda dy, y, a, b, *args, **kwargs: _cross_grads(dy, a, b, *args, **kwargs)[0],
          lambda dy, y, a, b, *args, **kwargs: _cross_grads(dy, a, b, *args, **kwargs)[1])
primitive(np.linalg.cross,
          lambda dy, y, a, b, axis=-1: _cross_grads(dy, a, b, axis=axis)[0],
          lambda dy, y, a, b, axis=-1: _cross_grads(dy, a, b, axis=axis)[1])

# -- vecdot, matvec, vecmat --------------------------------------------------------------


def _vecdot_a(dy, y, a, b):
    return np.expand_dims(dy, -1) * b


def _vecdot_b(dy, y, a, b):
    return np.expand_dims(dy, -1) * a


def _matvec_a(dy, y, a, v):  # (..., m, n) @ (..., n) -> (..., m)
    return np.expand_dims(dy, -1) * np.expand_dims(v, -2)


def _matvec_b(dy, y, a, v):
    return np.matvec(_T(a), dy)


def _vecmat_a(dy, y, v, a):  # (..., m) @ (..., m, n) -> (..., n)
    return np.matvec(a, dy)


def _vecmat_b(dy, y, v, a):
    return np.expand_dims(v, -1) * np.expand_dims(dy, -2)


def _vecdot_cores(na, nb):
    return 1, 1, 0


_vecdot_rules = (_with_core_axes(_vecdot_a, 0, _vecdot_cores, "np.vecdot"),
                 _with_core_axes(_vecdot_b, 1, _vecdot_cores, "np.vecdot"))
_gufunc(np.vecdot, *_vecdot_rules)
_gufunc(np.matvec, _with_core_axes(_matvec_a, 0, lambda na, nb: (2, 1, 1), "np.matvec"),
        _with_core_axes(_matvec_b, 1, lambda na, nb: (2, 1, 1), "np.matvec"))
_gufunc(np.vecmat, _with_core_axes(_vecmat_a, 0, lambda na, nb: (1, 2, 1), "np.vecmat"),
        _with_core_axes(_vecmat_b, 1, lambda na, nb: (1, 2, 1), "np.vecmat"))
primitive(np.linalg.vecdot,
          lambda dy, y, a, b, axis=-1: _vecdot_rules[0](dy, y, a, b, axis=axis),
          lambda dy, y, a, b, axis=-1: _vecdot_rules[1](dy, y, a, b, axis=axis))

# -- multi_dot ---------------------------------------------------------------------------


def _multi_dot_args(args, kwargs):
    """``np.linalg.multi_dot(arrays)`` called as ``f(*arrays)``."""
    arrays, *rest = args
    return tuple(arrays), dict(zip(("out",), rest, strict=False), **kwargs)


def _multi_dot(*arrays, **kwargs):
    return np.linalg.multi_dot(arrays, **kwargs)


def _grad_multi_dot(dy, y, *arrays, out=None):
    mats = list(arrays)
    if np.ndim(mats[0]) == 1:  # a row vector
        mats[0] = np.expand_dims(mats[0], 0)
        dy = np.expand_dims(dy, 0)
    if np.ndim(mats[-1]) == 1:  # a column vector
        mats[-1] = np.expand_dims(mats[-1], -1)
        dy = np.expand_dims(dy, -1)
    n = len(mats)
    left = [None] * n  # left[i]: the product of the matrices before i
    right = [None] * n  # right[i]: the product of the matrices after i
    for i in range(1, n):
        left[i] = mats[0] if i == 1 else np.matmul(left[i - 1], mats[i - 1])
    for i in range(n - 2, -1, -1):
        right[i] = mats[-1] if i == n - 2 else np.matmul(mats[i + 1], right[i + 1])
    grads = []
    for i in range(n):
        g = dy if right[i] is None else np.matmul(dy, _T(right[i]))
        g = g if left[i] is None else np.matmul(_T(left[i]), g)
        grads.append(np.reshape(g, np.shape(arrays[i])))
    return grads


register(np.linalg.multi_dot, primitive(_multi_dot, grad_all=_grad_multi_dot,
                                        adapter=_multi_dot_args,
                                        name="np.linalg.multi_dot").primitive)
