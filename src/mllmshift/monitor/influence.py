r"""Linear RJSD with its per-record influence: one eigendecomposition per sample, and a bootstrap by weights.

The monitor's intervals need the bootstrap standard error of each drift term, i.e. the spread of
RJSD(A ‖ W_c) over resampled windows W_c (c_i = how often record i is drawn). Recomputing the estimate per
resample costs B + 1 eigendecompositions of the (n_A + n)-row Gram per term and window (90 % of the monitor's
time at B = 50). Here the estimate is computed once, with the derivative of RJSD in each record's weight, and
each resample's value is its first-order expansion

.. math:: \mathrm{RJSD}(c) \approx \mathrm{RJSD} + \sum_i (c_i - 1)\, g_i ,

so a resample costs one dot product. RJSD is invariant to scaling a sample's weights (each covariance is
normalised by its trace), so Σ_i g_i = 0 and resamples of any total weight expand the same way.

**The derivative.** For a sample z_i with weights w_i, G = Σ w_i z_i z_iᵀ, t = tr G, C = G/t and
S(C) = −tr(C ln C):

.. math::

    \frac{\partial S(C)}{\partial w_i} = -\frac{z_i^\top \ln C\, z_i + S(C)\,\lVert z_i\rVert^2}{t},\qquad
    \frac{\partial S(M)}{\partial w_i} = -\frac{z_i^\top \ln M\, z_i - \operatorname{tr}(C \ln M)\,\lVert z_i\rVert^2}{2t}

for the mixture M = (C_A + C_W)/2 (dS = −tr((ln X + I) dX) and tr dC = 0). The quadratic forms come from
one eigendecomposition: with the rows stacked and scaled, V, so that X = VᵀV, either of X itself (d × d)
or, when there are fewer rows than dimensions, of the row Gram VVᵀ = U Λ Uᵀ (same non-zero spectrum), where
v_rᵀ ln X v_r = Σ_k λ_k ln λ_k U_rk².

The expansion drops the second-order term: a resample's repeated points raise RJSD a little (that is why the
monitor's intervals are centred on the estimate), which moves every resample alike and barely changes their
spread. ``tests/monitor/test_monitor_influence.py`` checks the derivative against finite differences and the
standard error against the resampled one; the replays give the same estimates, p-values and alerts either way.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import numpy as np
from scipy.linalg import cython_lapack

from mllmshift.estimators.divergence.rjsd import gram
from mllmshift.resampling import counts_of_draws


def _entropy_forms(v: np.ndarray, forms: bool, vtv: np.ndarray | None = None) -> tuple[float, np.ndarray | None]:
    """S(VᵀV / tr) and, if ``forms``, v_rᵀ ln(VᵀV) v_r for every row r (VᵀV has unit trace here). ``vtv``: VᵀV
    given (d × d; the estimator's product), in which case ``v`` need hold only the rows whose forms are wanted."""
    n, d = v.shape
    if vtv is None and n < d:
        k = v @ v.T
        if not forms:
            lam = np.linalg.eigvalsh((k + k.T) / 2.0)
            return _entropy(lam), None
        lam, u = np.linalg.eigh((k + k.T) / 2.0)
        pos = lam > 0
        lam_log = np.where(pos, lam * np.log(np.where(pos, lam, 1.0)), 0.0)
        return _entropy(lam), (u * u) @ lam_log
    g = v.T @ v if vtv is None else vtv
    if not forms:
        return _entropy(np.linalg.eigvalsh((g + g.T) / 2.0)), None
    lam, e = np.linalg.eigh((g + g.T) / 2.0)
    pos = lam > 0
    log_lam = np.where(pos, np.log(np.where(pos, lam, 1.0)), 0.0)
    proj = v @ e
    return _entropy(lam), (proj * proj) @ log_lam


def eigenvalues(x: np.ndarray, single: bool = False) -> np.ndarray:
    """The eigenvalues of the symmetric matrix ``x``: ``np.linalg.eigvalsh`` in float64, or (``single``) LAPACK's
    ``ssyevr`` on x rounded to float32 (1.4–1.6× faster from 300 to 632 rows on one thread; each eigenvalue
    within a few float32 ulps of ‖x‖₂), returned as float64. The float32 call goes through ctypes
    (:func:`_ssyevr`), which releases the GIL: numpy's ``eigvalsh`` and scipy's ``lapack.ssyevr`` wrapper hold
    it for the whole decomposition, so the run's workers could not overlap their eigenvalue problems."""
    if not single:
        return np.linalg.eigvalsh(x)
    a = np.array(x, dtype=np.float32, order="C")  # a copy LAPACK may overwrite
    return _ssyevr(a).astype(np.float64)


@functools.lru_cache(maxsize=1)
def _ssyevr_pointer() -> Any:
    """scipy's LAPACK ``ssyevr`` (``scipy.linalg.cython_lapack``) as a ctypes function: a foreign call that
    releases the GIL while it runs."""
    try:
        capsule = cython_lapack.__pyx_capi__["ssyevr"]
        get_name, get_pointer = ctypes.pythonapi.PyCapsule_GetName, ctypes.pythonapi.PyCapsule_GetPointer
        get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        return ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 21))(get_pointer(capsule, get_name(capsule)))
    except (AttributeError, KeyError, ValueError, TypeError):  # pragma: no cover - a scipy without the capsule
        return None


def _ssyevr(a: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of the C-ordered symmetric float32 matrix ``a`` (overwritten), from its lower
    triangle: LAPACK sees the memory as aᵀ in Fortran order and reads its upper triangle ('U'), the call
    ``scipy.linalg.lapack.ssyevr(a.T, compute_v=0)`` makes (the same workspace: equal to the last bit)."""
    call = _ssyevr_pointer()
    if call is None:  # pragma: no cover - numpy's float32 eigenvalues (with the GIL held: slower beside workers)
        return np.linalg.eigvalsh(a)
    n = a.shape[0]
    ints = {k: ctypes.c_int(v) for k, v in (("n", n), ("il", 1), ("iu", n), ("ldz", 1), ("lwork", 26 * n),
                                            ("liwork", 10 * n), ("m", 0), ("info", 0))}
    vl, vu, abstol = ctypes.c_float(0.0), ctypes.c_float(0.0), ctypes.c_float(0.0)
    w, z = np.empty(n, np.float32), np.empty(1, np.float32)
    isuppz, work, iwork = np.empty(2 * n, np.int32), np.empty(26 * n, np.float32), np.empty(10 * n, np.int32)
    ref = ctypes.byref
    call(ctypes.c_char_p(b"N"), ctypes.c_char_p(b"A"), ctypes.c_char_p(b"U"), ref(ints["n"]),
         a.ctypes.data, ref(ints["n"]), ref(vl), ref(vu), ref(ints["il"]), ref(ints["iu"]), ref(abstol),
         ref(ints["m"]), w.ctypes.data, z.ctypes.data, ref(ints["ldz"]), isuppz.ctypes.data,
         work.ctypes.data, ref(ints["lwork"]), iwork.ctypes.data, ref(ints["liwork"]), ref(ints["info"]))
    if ints["info"].value != 0 or ints["m"].value != n:
        raise np.linalg.LinAlgError(f"ssyevr did not converge (info {ints['info'].value}, {ints['m'].value} of {n})")
    return w


def _entropy(lam: np.ndarray) -> float:
    """−Σ λ ln λ over the positive eigenvalues, normalised to sum 1 (as ``von_neumann_entropy``)."""
    lam = lam[lam > 0]
    lam = lam / lam.sum()
    return float(-(lam * np.log(lam)).sum())


def rjsd_influence(a: np.ndarray, b: np.ndarray, *, grad_a: bool = False
                   ) -> tuple[float, np.ndarray | None, np.ndarray]:
    """RJSD(a ‖ b) (trace-normalised, linear kernel, clipped at 0 as the estimator does) and its derivatives in
    each row's weight: (value, d/dw_a or None unless ``grad_a``, d/dw_b). See the module docstring."""
    value, g_a, g_b, _ = influence_parts(a, b, grad_a=grad_a)
    return value, g_a, g_b


def influence_parts(a: np.ndarray, b: np.ndarray, *, grad_a: bool = False
                    ) -> tuple[float, np.ndarray | None, np.ndarray, float]:
    """:func:`rjsd_influence` and a's entropy S(C_a), which :class:`WeightedRJSD` needs too: one pass of
    eigenvalue problems gives a window's drift term, its slopes and its exact resamples' fixed part. The value
    is the estimator's (:func:`mllmshift.estimators.divergence.rjsd.rjsd`, equal up to the eigensolver's
    rounding): the same (n_a + n_b)-row float64 Gram with fewer rows than dimensions, else its own d × d Gram
    products (:func:`~mllmshift.estimators.divergence.rjsd.gram`, in the rows' precision), so the monitor need
    not run the estimator again for a window's value."""
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na2, nb2 = (a64 * a64).sum(axis=1), (b64 * b64).sum(axis=1)
    na = len(a64)
    if na + len(b64) >= a64.shape[1]:  # the estimator's d × d path, on its Gram products (the rows' precision)
        ga, gb = gram(a), gram(b)
        ta, tb = float(np.trace(ga)), float(np.trace(gb))
        if ta <= 0 or tb <= 0:
            raise ValueError("a sample is all zeros; its covariance has no trace to normalise by")
        ca, cb = ga / ta, gb / tb
        rows_b = b64 / np.sqrt(2.0 * tb)  # the mixture's forms: b's rows, and a's where a's slopes are wanted
        s_m, q = _entropy_forms(np.vstack([a64 / np.sqrt(2.0 * ta), rows_b]) if grad_a else rows_b, True,
                                (ca + cb) / 2.0)
        assert q is not None
        q_m = q if grad_a else np.concatenate([np.zeros(na), q])
        s_a, q_a = _entropy_forms(a64 / np.sqrt(ta), grad_a, ca)
        s_b, q_b = _entropy_forms(b64 / np.sqrt(tb), True, cb)
    else:  # the (n_a + n_b)-row Gram, as the estimator's dual path
        ta, tb = float(na2.sum()), float(nb2.sum())
        if ta <= 0 or tb <= 0:
            raise ValueError("a sample is all zeros; its covariance has no trace to normalise by")
        v = np.vstack([a64 / np.sqrt(2.0 * ta), b64 / np.sqrt(2.0 * tb)])
        s_m, q_m = _entropy_forms(v, True)  # type: ignore[assignment]
        s_a, q_a = _entropy_forms(a64 / np.sqrt(ta), grad_a)
        s_b, q_b = _entropy_forms(b64 / np.sqrt(tb), True)
    assert q_m is not None and q_b is not None
    value = max(0.0, s_m - 0.5 * (s_a + s_b))

    def grad(q_mix: np.ndarray, q_own: np.ndarray, s_own: float, norms: np.ndarray, t: float) -> np.ndarray:
        # rows of v carry 1/√(2t), rows of the own sample 1/√t: zᵀ ln M z = 2t q_mix, zᵀ ln C z = t q_own
        z_m, z_c = 2.0 * t * q_mix, t * q_own
        tr_c_log_m = float(z_m.sum()) / t
        d_mix = -(z_m - tr_c_log_m * norms) / (2.0 * t)
        d_own = -(z_c + s_own * norms) / t
        return d_mix - 0.5 * d_own

    g_b = grad(q_m[na:], q_b, s_b, nb2, tb)
    g_a = grad(q_m[:na], q_a, s_a, na2, ta) if q_a is not None else None
    return value, g_a, g_b, s_a


class WeightedRJSD:
    """RJSD(a ‖ b_c) for many weightings c of b's rows, a fixed: the rows' Gram once, then one
    eigenvalue problem per weighting (the (n_a + n_b)-row Gram rescaled when that is smaller than d, else the
    d × d Gram of b re-weighted). Exact: the same value as the estimator on b with its rows repeated c times.
    ``s_a``: a's entropy S(C_a) when the caller has it already (:func:`influence_parts` computes it), else computed
    at the first call that needs it. ``single``: each weighting's Grams and eigenvalues in float32 (the fixed
    Gram is formed in float64, then rounded; :func:`eigenvalues`)."""

    def __init__(self, a: np.ndarray, b: np.ndarray, s_a: float | None = None, *, single: bool = False) -> None:
        self.a, self.b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        self.na, d = self.a.shape
        self.single, self.dtype = single, np.float32 if single else np.float64
        self.norms_b = (self.b * self.b).sum(axis=1)
        self.ta = float((self.a * self.a).sum())
        if self.ta <= 0:
            raise ValueError("a sample is all zeros; its covariance has no trace to normalise by")
        self.s_a = s_a
        self.dual = self.na + len(self.b) < d
        if self.dual:
            v = np.vstack([self.a / np.sqrt(2.0 * self.ta), self.b])
            self.k = (v @ v.T).astype(self.dtype)  # a rows scaled for the mixture, b rows raw (scaled per weighting)
        else:
            self.g_a = (self.a.T @ self.a / (2.0 * self.ta)).astype(self.dtype)
            self.b_work = self.b.astype(self.dtype)

    def __call__(self, c: np.ndarray) -> float:
        if self.s_a is None:
            self.s_a = _entropy_forms(self.a / np.sqrt(self.ta), False)[0]
        return self.combine(self.s_a, *self.parts(c))

    @staticmethod
    def combine(s_a: float, s_m: float, s_b: float) -> float:
        """RJSD = S(M) − (S(C_a) + S(C_b))/2, clipped at 0 as the estimator does."""
        return max(0.0, s_m - 0.5 * (s_a + s_b))

    def parts(self, c: np.ndarray) -> tuple[float, float]:
        """(S(M_c), S(C_{b,c})) for weighting ``c``: everything of the resample but a's fixed entropy."""
        c = np.asarray(c, dtype=np.float64)
        t = float(c @ self.norms_b)
        keep = np.flatnonzero(c > 0)  # rows drawn 0 times add nothing: left out of every eigenvalue problem
        if self.dual:
            rows = np.concatenate([np.arange(self.na), self.na + keep])
            scale = np.concatenate([np.ones(self.na), np.sqrt(c[keep] / (2.0 * t))]).astype(self.dtype)
            k = self.k[np.ix_(rows, rows)] * scale[:, None] * scale[None, :]
            own = k[self.na:, self.na:] * 2.0
            return _entropy(eigenvalues(k, self.single)), _entropy(eigenvalues(own, self.single))
        # the drawn rows scaled by √(c/t): bᵀ diag(c/t) b as one symmetric product (BLAS syrk)
        bs = self.b_work[keep] * np.sqrt(c[keep] / t).astype(self.dtype)[:, None]
        g_b = bs.T @ bs
        s_m = _entropy(eigenvalues(self.g_a + g_b / 2.0, self.single))
        s_b = _entropy(eigenvalues(bs @ bs.T if len(keep) < len(g_b) else g_b, self.single))  # the smaller Gram
        return s_m, s_b


class PairedWeightedRJSD:
    """RJSD(a_c ‖ b_c) for many weightings c shared by paired rows (a_i, b_i) — the output term's resamples, which
    draw labelled records with their answer and reference answer together. Rows drawn 0 times are left out and
    the others scaled by √c_i, so each weighting costs eigenvalue problems of the drawn rows only (two k × k and
    one 2k × 2k Gram for k distinct drawn rows, all sliced from one Gram). Exact: the same value as the estimator
    on the pairs repeated c times (equal up to rounding). ``single``: each weighting's Grams and eigenvalues in
    float32, as :class:`WeightedRJSD`."""

    def __init__(self, a: np.ndarray, b: np.ndarray, *, single: bool = False) -> None:
        a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        self.single, self.dtype = single, np.float32 if single else np.float64
        self.n, self.d = a64.shape
        self.norms_a, self.norms_b = (a64 * a64).sum(axis=1), (b64 * b64).sum(axis=1)
        v = np.vstack([a64, b64])
        self.k = (v @ v.T).astype(self.dtype) if 2 * self.n < self.d else None
        self.a, self.b = a64.astype(self.dtype), b64.astype(self.dtype)

    def __call__(self, c: np.ndarray) -> float:
        c = np.asarray(c, dtype=np.float64)
        keep = np.flatnonzero(c > 0)
        ta, tb = float(c @ self.norms_a), float(c @ self.norms_b)
        if ta <= 0 or tb <= 0:
            raise ValueError("a sample is all zeros; its covariance has no trace to normalise by")
        if self.k is not None:
            rows = np.concatenate([keep, self.n + keep])
            sa, sb = np.sqrt(c[keep] / ta), np.sqrt(c[keep] / tb)
            scale = (np.concatenate([sa, sb]) / np.sqrt(2.0)).astype(self.dtype)
            k = self.k[np.ix_(rows, rows)] * scale[:, None] * scale[None, :]
            kk = len(keep)
            s_m = _entropy(eigenvalues(k, self.single))
            s_a = _entropy(eigenvalues(2.0 * k[:kk, :kk], self.single))
            s_b = _entropy(eigenvalues(2.0 * k[kk:, kk:], self.single))
        else:  # the mixture's d × d Gram; each sample's own entropy from whichever Gram is smaller
            xa = self.a[keep] * np.sqrt(c[keep] / ta).astype(self.dtype)[:, None]
            xb = self.b[keep] * np.sqrt(c[keep] / tb).astype(self.dtype)[:, None]
            ga, gb = xa.T @ xa, xb.T @ xb
            s_m = _entropy(eigenvalues((ga + gb) / 2.0, self.single))
            small = len(keep) < self.d
            s_a = _entropy(eigenvalues(xa @ xa.T if small else ga, self.single))
            s_b = _entropy(eigenvalues(xb @ xb.T if small else gb, self.single))
        return max(0.0, s_m - 0.5 * (s_a + s_b))


def counts(boot: np.ndarray, n: int) -> np.ndarray:
    """The (B × n) draw counts of the bootstrap index matrix ``boot`` (B × n indices into n records)."""
    return counts_of_draws(boot, n)
