"""Our CG (float32, through dev.twophase.bench.CgStdio) and SciPy's minimize(method='CG') (float64)
side by side on thirty classic unconstrained problems (Moré, Garbow and Hillstrom 1981, ACM TOMS 7)
from their standard starting points. Both see the same float64 function defined once here; see
scripts/cg-vs-scipy for what is compared. Usage: cg_vs_scipy.py CLASSPATH OUTDIR [--starts K] [--scipy-c2 X] [CgStdio args]."""
import json, os, struct, subprocess, sys

import numpy as np
from scipy.optimize import minimize
from scipy.optimize import _optimize


def scipy_cg(fg, x0, c2):
    """SciPy's minimize(method='CG') from x0, with curvature constant c2 in place of its fixed 0.4: _minimize_cg calls
    the module's _line_search_wolfe12 with c2=0.4 (SciPy 1.10 has no option for it), so for other values a wrapper
    replaces that argument while this call runs."""
    run = lambda: minimize(lambda x: fg(x)[0], x0, jac=lambda x: fg(x)[1], method="CG")
    if c2 == 0.4:
        return run()
    wolfe12 = _optimize._line_search_wolfe12

    def with_c2(*args, **kwargs):
        if kwargs.get("c2") != 0.4:
            raise RuntimeError("SciPy's CG no longer passes c2=0.4 to _line_search_wolfe12; --scipy-c2 cannot apply")
        return wolfe12(*args, **dict(kwargs, c2=c2))

    _optimize._line_search_wolfe12 = with_c2
    try:
        return run()
    finally:
        _optimize._line_search_wolfe12 = wolfe12


def rosenbrock(x):
    f = 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
    return f, np.array([-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]), 200 * (x[1] - x[0] ** 2)])


def lsq(r, J):
    """f = |r|^2 and its gradient 2 J^T r."""
    return float(r @ r), 2 * J.T @ r


def freudenstein_roth(x):
    x1, x2 = x
    r = np.array([-13 + x1 + ((5 - x2) * x2 - 2) * x2, -29 + x1 + ((x2 + 1) * x2 - 14) * x2])
    return lsq(r, np.array([[1, -3 * x2 ** 2 + 10 * x2 - 2], [1, 3 * x2 ** 2 + 2 * x2 - 14]]))


def powell_badly_scaled(x):
    x1, x2 = x
    r = np.array([1e4 * x1 * x2 - 1, np.exp(-x1) + np.exp(-x2) - 1.0001])
    return lsq(r, np.array([[1e4 * x2, 1e4 * x1], [-np.exp(-x1), -np.exp(-x2)]]))


def brown_badly_scaled(x):
    x1, x2 = x
    return lsq(np.array([x1 - 1e6, x2 - 2e-6, x1 * x2 - 2]), np.array([[1, 0], [0, 1], [x2, x1]]))


def beale(x):
    x1, x2 = x
    i = np.arange(1, 4)
    r = np.array([1.5, 2.25, 2.625]) - x1 * (1 - x2 ** i)
    return lsq(r, np.stack([-(1 - x2 ** i), x1 * i * x2 ** (i - 1)], axis=1))


def wood(x):
    x1, x2, x3, x4 = x
    f = (100 * (x1 ** 2 - x2) ** 2 + (x1 - 1) ** 2 + (x3 - 1) ** 2 + 90 * (x3 ** 2 - x4) ** 2
         + 10.1 * ((x2 - 1) ** 2 + (x4 - 1) ** 2) + 19.8 * (x2 - 1) * (x4 - 1))
    g = np.array([400 * x1 * (x1 ** 2 - x2) + 2 * (x1 - 1), -200 * (x1 ** 2 - x2) + 20.2 * (x2 - 1) + 19.8 * (x4 - 1),
                  2 * (x3 - 1) + 360 * x3 * (x3 ** 2 - x4), -180 * (x3 ** 2 - x4) + 20.2 * (x4 - 1) + 19.8 * (x2 - 1)])
    return f, g


def extended_rosenbrock(x):
    a, b = x[0::2], x[1::2]
    r = b - a * a
    g = np.zeros_like(x)
    g[0::2] = -400 * a * r - 2 * (1 - a)
    g[1::2] = 200 * r
    return float(np.sum(100 * r * r + (1 - a) ** 2)), g


def extended_powell(x):
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    r1, r2, r3, r4 = a + 10 * b, np.sqrt(5) * (c - d), (b - 2 * c) ** 2, np.sqrt(10) * (a - d) ** 2
    g = np.zeros_like(x)
    g[0::4] = 2 * r1 + 4 * np.sqrt(10) * r4 * (a - d)
    g[1::4] = 20 * r1 + 4 * r3 * (b - 2 * c)
    g[2::4] = 2 * np.sqrt(5) * r2 - 8 * r3 * (b - 2 * c)
    g[3::4] = -2 * np.sqrt(5) * r2 - 4 * np.sqrt(10) * r4 * (a - d)
    return float(np.sum(r1 * r1 + r2 * r2 + r3 * r3 + r4 * r4)), g


def trigonometric(x):
    n = len(x)
    i = np.arange(1, n + 1)
    r = n - np.sum(np.cos(x)) + i * (1 - np.cos(x)) - np.sin(x)
    return float(r @ r), 2 * (np.sum(r) * np.sin(x) + r * (i * np.sin(x) - np.cos(x)))


def penalty_1(x):
    a = 1e-5
    s = x @ x - 0.25
    return float(a * np.sum((x - 1) ** 2) + s * s), 2 * a * (x - 1) + 4 * s * x


def variably_dimensioned(x):
    j = np.arange(1, len(x) + 1)
    s = np.sum(j * (x - 1))
    return float(np.sum((x - 1) ** 2) + s ** 2 + s ** 4), 2 * (x - 1) + (2 * s + 4 * s ** 3) * j


def broyden_tridiagonal(x):
    xp = np.concatenate([[0], x, [0]])
    r = (3 - 2 * x) * x - xp[:-2] - 2 * xp[2:] + 1
    g = 2 * (3 - 4 * x) * r
    g[:-1] -= 2 * r[1:]      # x_j is x_{i-1} in r_{j+1}
    g[1:] -= 4 * r[:-1]      # x_j is x_{i+1} in r_{j-1}
    return float(r @ r), g


def helical_valley(x):
    x1, x2, x3 = x
    th = np.arctan2(x2, x1) / (2 * np.pi)   # MGH's theta: arctan(x2/x1)/2pi, +1/2 for x1 < 0; arctan2 differs by an integer only where x1<0,x2<0
    if x1 < 0 and x2 < 0: th += 1.0
    rr = x1 * x1 + x2 * x2
    r = np.array([10 * (x3 - 10 * th), 10 * (np.sqrt(rr) - 1), x3])
    dth = np.array([-x2, x1]) / (2 * np.pi * rr)
    J = np.array([[-100 * dth[0], -100 * dth[1], 10], [10 * x1 / np.sqrt(rr), 10 * x2 / np.sqrt(rr), 0], [0, 0, 1]])
    return lsq(r, J)

BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39])
def bard(x):
    u = np.arange(1.0, 16); v = 16 - u; w = np.minimum(u, v)
    den = v * x[1] + w * x[2]
    r = BARD_Y - (x[0] + u / den)
    J = np.stack([-np.ones(15), u * v / den ** 2, u * w / den ** 2], axis=1)
    return lsq(r, J)

GAUSS_Y = np.array([0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989, 0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009])
def gaussian(x):
    t = (8 - np.arange(1.0, 16)) / 2
    e = np.exp(-x[1] * (t - x[2]) ** 2 / 2)
    r = x[0] * e - GAUSS_Y
    J = np.stack([e, -x[0] * e * (t - x[2]) ** 2 / 2, x[0] * e * x[1] * (t - x[2])], axis=1)
    return lsq(r, J)

MEYER_Y = np.array([34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030, 6005, 5147, 4427, 3820, 3307, 2872.0])
def meyer(x):
    t = 45 + 5 * np.arange(1.0, 17)
    e = np.exp(x[1] / (t + x[2]))
    r = x[0] * e - MEYER_Y
    J = np.stack([e, x[0] * e / (t + x[2]), -x[0] * e * x[1] / (t + x[2]) ** 2], axis=1)
    return lsq(r, J)

def box_3d(x):
    t = 0.1 * np.arange(1.0, 11)
    a, b = np.exp(-t * x[0]), np.exp(-t * x[1])
    c = np.exp(-t) - np.exp(-10 * t)
    r = a - b - x[2] * c
    J = np.stack([-t * a, t * b, -c], axis=1)
    return lsq(r, J)

KO_Y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246])
KO_U = np.array([4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])
def kowalik_osborne(x):
    u = KO_U
    num = u * u + u * x[1]; den = u * u + u * x[2] + x[3]
    r = KO_Y - x[0] * num / den
    J = np.stack([-num / den, -x[0] * u / den, x[0] * num * u / den ** 2, x[0] * num / den ** 2], axis=1)
    return lsq(r, J)

def brown_dennis(x):
    t = np.arange(1.0, 21) / 5
    a = x[0] + t * x[1] - np.exp(t)
    b = x[2] + x[3] * np.sin(t) - np.cos(t)
    r = a * a + b * b
    J = np.stack([2 * a, 2 * a * t, 2 * b, 2 * b * np.sin(t)], axis=1)
    return lsq(r, J)

OS1_Y = np.array([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751, 0.718, 0.685, 0.658, 0.628, 0.603,
                  0.580, 0.558, 0.538, 0.522, 0.506, 0.490, 0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406])
def osborne_1(x):
    t = 10 * np.arange(33.0)
    e4, e5 = np.exp(-t * x[3]), np.exp(-t * x[4])
    r = OS1_Y - (x[0] + x[1] * e4 + x[2] * e5)
    J = np.stack([-np.ones(33), -e4, -e5, x[1] * t * e4, x[2] * t * e5], axis=1)
    return lsq(r, J)

def biggs_exp6(x):
    t = 0.1 * np.arange(1.0, 14)
    y = np.exp(-t) - 5 * np.exp(-10 * t) + 3 * np.exp(-4 * t)
    e1, e2, e5 = np.exp(-t * x[0]), np.exp(-t * x[1]), np.exp(-t * x[4])
    r = x[2] * e1 - x[3] * e2 + x[5] * e5 - y
    J = np.stack([-t * x[2] * e1, t * x[3] * e2, e1, -e2, -t * x[5] * e5, e5], axis=1)
    return lsq(r, J)

OS2_Y = np.array([1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679, 0.608, 0.655, 0.616, 0.606,
                  0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644, 0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423,
                  0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668,
                  0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054])
def osborne_2(x):
    t = np.arange(65.0) / 10
    e1 = np.exp(-t * x[4])
    J = np.zeros((65, 11))
    model = x[0] * e1
    J[:, 0] = -e1
    J[:, 4] = x[0] * t * e1
    for k, (a, s, c) in enumerate(((1, 5, 8), (2, 6, 9), (3, 7, 10))):
        dt = t - x[c]
        e = np.exp(-dt * dt * x[s])
        model = model + x[a] * e
        J[:, a] = -e
        J[:, s] = x[a] * dt * dt * e
        J[:, c] = -x[a] * e * 2 * x[s] * dt
    return lsq(OS2_Y - model, J)

def watson(x):
    n = len(x)
    t = np.arange(1.0, 30) / 29
    j = np.arange(n)
    P = t[:, None] ** j[None, :]                     # t^(j-1) for j = 1..n
    s1 = (P[:, :-1] * (j[1:] * x[1:])[None, :]).sum(axis=1)   # sum_{j>=2} (j-1) x_j t^(j-2)
    s2 = P @ x
    r = np.concatenate([s1 - s2 * s2 - 1, [x[0], x[1] - x[0] ** 2 - 1]])
    J = np.zeros((31, n))
    J[:29, 1:] = j[1:][None, :] * P[:, :-1]
    J[:29, :] -= 2 * s2[:, None] * P
    J[29, 0] = 1
    J[30, 0] = -2 * x[0]; J[30, 1] = 1
    return lsq(r, J)

def penalty_2(x):
    n = len(x); a = 1e-5; sa = np.sqrt(a)
    i = np.arange(2, n + 1)
    y = np.exp(i / 10) + np.exp((i - 1) / 10)
    e = np.exp(x / 10)
    r = np.concatenate([[x[0] - 0.2], sa * (e[1:] + e[:-1] - y), sa * (e[1:] - np.exp(-0.1)), [np.sum((n - np.arange(n)) * x * x) - 1]])
    J = np.zeros((2 * n, n))
    J[0, 0] = 1
    k = np.arange(n - 1)
    J[1 + k, k + 1] = sa * e[1:] / 10; J[1 + k, k] = sa * e[:-1] / 10
    J[n + k, k + 1] = sa * e[1:] / 10
    J[2 * n - 1] = 2 * (n - np.arange(n)) * x
    return lsq(r, J)

def brown_almost_linear(x):
    n = len(x)
    r = x + np.sum(x) - (n + 1)
    r[-1] = np.prod(x) - 1
    J = np.eye(n) + 1
    J[-1] = np.array([np.prod(np.delete(x, k)) for k in range(n)])
    return lsq(r, J)

def discrete_boundary_value(x):
    n = len(x); h = 1 / (n + 1); t = np.arange(1, n + 1) * h
    xp = np.concatenate([[0], x, [0]])
    r = 2 * x - xp[:-2] - xp[2:] + h * h * (x + t + 1) ** 3 / 2
    J = np.diag(2 + 1.5 * h * h * (x + t + 1) ** 2) - np.eye(n, k=1) - np.eye(n, k=-1)
    return lsq(r, J)

def discrete_integral_equation(x):
    n = len(x); h = 1 / (n + 1); t = np.arange(1, n + 1) * h
    c = (x + t + 1) ** 3
    L = np.tril(np.ones((n, n)))          # j <= i
    A = (1 - t)[:, None] * L * t[None, :] + t[:, None] * (1 - L) * (1 - t)[None, :]
    r = x + h / 2 * (A @ c)
    J = np.eye(n) + h / 2 * A * (3 * (x + t + 1) ** 2)[None, :]
    return lsq(r, J)

def broyden_banded(x):
    n = len(x)
    J = np.zeros((n, n)); r = np.zeros(n)
    for i in range(n):
        lo, hi = max(0, i - 5), min(n - 1, i + 1)
        js = [j for j in range(lo, hi + 1) if j != i]
        r[i] = x[i] * (2 + 5 * x[i] ** 2) + 1 - sum(x[j] * (1 + x[j]) for j in js)
        J[i, i] = 2 + 15 * x[i] ** 2
        for j in js: J[i, j] = -(1 + 2 * x[j])
    return lsq(r, J)

def linear_full_rank(x, m=200):
    n = len(x); s = np.sum(x)
    r = np.full(m, -2 * s / m - 1); r[:n] += x
    J = np.full((m, n), -2 / m); J[:n] += np.eye(n)
    return lsq(r, J)

def chebyquad(x):
    n = len(x); m = n
    y = 2 * x - 1
    T = np.zeros((m + 1, n)); dT = np.zeros((m + 1, n))
    T[0] = 1; T[1] = y; dT[1] = 2
    for i in range(1, m):
        T[i + 1] = 2 * y * T[i] - T[i - 1]
        dT[i + 1] = 4 * T[i] + 2 * y * dT[i] - dT[i - 1]
    i = np.arange(1, m + 1)
    integ = np.zeros(m)                    # the integral of T_i over [0, 1]: 0 for odd i
    even = i % 2 == 0
    integ[even] = -1.0 / (i[even] ** 2 - 1.0)
    r = T[1:].mean(axis=1) - integ
    J = dT[1:] / n
    return lsq(r, J)


N = 100
# (name, MGH number, function, standard start, why it is here)
PROBLEMS = [
    ("rosenbrock", 1, rosenbrock, np.array([-1.2, 1.0]), "curved valley"),
    ("freudenstein-roth", 2, freudenstein_roth, np.array([0.5, -2.0]), "local minimum f = 48.98 near the start"),
    ("powell-badly-scaled", 3, powell_badly_scaled, np.array([0.0, 1.0]), "badly scaled: x* = (1.1e-5, 9.1)"),
    ("brown-badly-scaled", 4, brown_badly_scaled, np.array([1.0, 1.0]), "badly scaled: x* = (1e6, 2e-6)"),
    ("beale", 5, beale, np.array([1.0, 1.0]), "flat valley"),
    ("helical-valley", 7, helical_valley, np.array([-1.0, 0.0, 0.0]), "curved valley around the x3 axis"),
    ("bard", 8, bard, np.array([1.0, 1.0, 1.0]), "rational least squares"),
    ("gaussian", 9, gaussian, np.array([0.4, 1.0, 0.0]), "small residual, f* = 1.1e-8"),
    ("meyer", 10, meyer, np.array([0.02, 4000.0, 250.0]), "badly scaled: x* = (5.6e-3, 6.2e3, 345)"),
    ("box-3d", 12, box_3d, np.array([0.0, 10.0, 20.0]), "exponentials, a line of minima"),
    ("wood", 14, wood, np.array([-3.0, -1.0, -3.0, -1.0]), "n = 4, saddle near the path"),
    ("kowalik-osborne", 15, kowalik_osborne, np.array([0.25, 0.39, 0.415, 0.39]), "rational least squares"),
    ("brown-dennis", 16, brown_dennis, np.array([25.0, 5.0, -5.0, -1.0]), "large residual, f* = 85822"),
    ("osborne-1", 17, osborne_1, np.array([0.5, 1.5, -1.0, 0.01, 0.02]), "exponential fit, rates near 0.01"),
    ("biggs-exp6", 18, biggs_exp6, np.array([1.0, 2.0, 1.0, 1.0, 1.0, 1.0]), "exponential fit, n = 6"),
    ("osborne-2", 19, osborne_2, np.array([1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5]), "exponentials and Gaussians, n = 11"),
    ("watson", 20, watson, np.zeros(9), "polynomial fit, n = 9, ill-conditioned"),
    ("extended-rosenbrock", 21, extended_rosenbrock, np.tile([-1.2, 1.0], N // 2), "n = 100"),
    ("extended-powell", 22, extended_powell, np.tile([3.0, -1.0, 0.0, 1.0], N // 4), "n = 100, singular Hessian at x* = 0"),
    ("penalty-1", 23, penalty_1, np.arange(1.0, N + 1), "n = 100, badly scaled: terms 1e-5 and 1"),
    ("penalty-2", 24, penalty_2, np.full(10, 0.5), "n = 10, terms 1e-5 and 1"),
    ("variably-dimensioned", 25, variably_dimensioned, 1 - np.arange(1, N + 1) / N, "n = 100, badly scaled: f(x0) = 1e13"),
    ("trigonometric", 26, trigonometric, np.full(N, 1.0 / N), "n = 100, dense"),
    ("brown-almost-linear", 27, brown_almost_linear, np.full(10, 0.5), "n = 10, a product term"),
    ("discrete-boundary-value", 28, discrete_boundary_value, np.arange(1, N + 1) / (N + 1) * (np.arange(1, N + 1) / (N + 1) - 1), "n = 100, ill-conditioned"),
    ("discrete-integral-equation", 29, discrete_integral_equation, np.arange(1, N + 1) / (N + 1) * (np.arange(1, N + 1) / (N + 1) - 1), "n = 100, dense"),
    ("broyden-tridiagonal", 30, broyden_tridiagonal, np.full(N, -1.0), "n = 100, sparse"),
    ("broyden-banded", 31, broyden_banded, np.full(N, -1.0), "n = 100, banded"),
    ("linear-full-rank", 32, linear_full_rank, np.ones(N), "n = 100, a quadratic"),
    ("chebyquad", 35, chebyquad, np.arange(1, 11) / 11, "n = 10, Chebyshev quadrature"),
]

GTOL = 1e-5  # SciPy's default: max |g| <= 1e-5


def check_gradient(name, fg, x):
    """Refuses a problem whose gradient disagrees with central differences of f at x."""
    g = fg(x)[1]
    num = np.zeros(len(x))
    for k in range(len(x)):
        e = np.zeros(len(x))
        e[k] = 1e-6 * max(1.0, abs(x[k]))
        num[k] = (fg(x + e)[0] - fg(x - e)[0]) / (2 * e[k])
    err = np.max(np.abs(num - g)) / max(1.0, np.max(np.abs(g)))
    if not err < 1e-5:
        raise RuntimeError("%s: the gradient differs from central differences at the start by %.2e (relative)" % (name, err))


def run_ours(java, cp, fg, x0, args):
    """Runs CgStdio, answering its f / (f, g) requests; returns its JSON result and our own call counts."""
    p = subprocess.Popen([java, "-cp", cp, "dev.twophase.bench.CgStdio"] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    w, r = p.stdin, p.stdout
    n = len(x0)
    w.write(struct.pack(">i", n) + struct.pack(">%dd" % n, *x0))
    w.flush()
    values = gradients = 0
    while True:
        kind = r.read(1)[0]
        if kind == 0:
            res = json.loads(r.read(struct.unpack(">H", r.read(2))[0]).decode())
            break
        f, g = fg(np.array(struct.unpack(">%dd" % n, r.read(8 * n))))
        if kind == 1:
            values += 1
            w.write(struct.pack(">d", f))
        else:
            gradients += 1
            w.write(struct.pack(">d", f) + struct.pack(">%dd" % n, *g))
        w.flush()
    if p.wait() != 0:
        raise RuntimeError("CgStdio failed")
    if (values, gradients) != (res["valueCalls"], res["valueAndGradientCalls"]):
        raise RuntimeError("CG's counts %s differ from the calls answered %s" % ((res["valueCalls"], res["valueAndGradientCalls"]), (values, gradients)))
    return res


def hessian(fg, x):
    """Central differences of the gradient, symmetrized."""
    n = len(x)
    h = np.zeros((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1e-5 * max(1.0, abs(x[j]))
        h[:, j] = (fg(x + e)[1] - fg(x - e)[1]) / (2 * e[j])
    return 0.5 * (h + h.T)


def float32_floor(fg, x_star):
    """max_i sum_j |H_ij| u_j / 2, u_j the float32 spacing at x*_j: how much rounding x* to float32 can move
    the gradient (first order). Below it a gradient tolerance asks for more than float32 can resolve."""
    u = np.spacing(np.abs(x_star.astype(np.float32))).astype(np.float64)
    return float(np.max(np.abs(hessian(fg, x_star)) @ (u / 2)))


def polish(fg, x):
    """A minimizer near x, in float64 (BFGS to max |g| <= 1e-13)."""
    return minimize(lambda z: fg(z)[0], x, jac=lambda z: fg(z)[1], method="BFGS", options=dict(gtol=1e-13, maxiter=10000)).x


def side_by_side(java, cp, fg, x_scipy, args, scipy_c2=0.4):
    """SciPy's CG from x_scipy, its stopping point (max |g| <= 1e-5, or the float32 floor at the minimizer it
    reached, polished by BFGS where it failed), and ours from x_scipy rounded to float32 to that point."""
    s = scipy_cg(fg, x_scipy, scipy_c2)
    floor = float32_floor(fg, polish(fg, s.x))
    target = max(GTOL, floor)
    o = run_ours(java, cp, fg, x_scipy.astype(np.float32).astype(np.float64), ["--gtol", repr(target), "--max-evals", "100000"] + args)
    return s, floor, target, o


def perturbed_starts(x0, mgh, count):
    """count starts x0 + 1% Gaussian noise (of max(|x0_i|, 0.1)), the same for every run (seeded by the MGH number), in float32."""
    rng = np.random.default_rng(mgh)
    return [(x0 + 0.01 * rng.standard_normal(len(x0)) * np.maximum(np.abs(x0), 0.1)).astype(np.float32).astype(np.float64)
            for _ in range(count)]


def main():
    cp, out = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    starts = 1
    if "--starts" in args:
        i = args.index("--starts")
        starts = int(args[i + 1])
        del args[i:i + 2]
    scipy_c2 = 0.4
    if "--scipy-c2" in args:
        i = args.index("--scipy-c2")
        scipy_c2 = float(args[i + 1])
        del args[i:i + 2]
        if not 1e-4 < scipy_c2 < 1:
            raise SystemExit("cg_vs_scipy: --scipy-c2 %s; expected a value in (1e-4, 1) (SciPy's c1 is 1e-4)" % scipy_c2)
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java")
    rows, perturbed = [], []
    for number, (name, mgh, fg, x0, note) in enumerate(PROBLEMS, 1):
        check_gradient(name, fg, x0)
        s, floor, target, o = side_by_side(java, cp, fg, x0, args, scipy_c2)
        s_gmax = float(np.max(np.abs(fg(s.x)[1])))
        ours_f, ours_g = o["valueCalls"] + o["valueAndGradientCalls"], o["valueAndGradientCalls"]
        reached = o["gradientMaxNorm"] <= target
        rows.append(dict(problem=name, mgh=mgh, n=len(x0), note=note, scipy_status=int(s.status), scipy_message=s.message,
                         scipy_nfev=int(s.nfev), scipy_njev=int(s.njev), scipy_calls=int(s.nfev + s.njev), scipy_f=float(s.fun),
                         scipy_gmax=s_gmax, floor=floor, target=target, ours_status=o["status"], ours_values=o["valueCalls"],
                         ours_value_gradients=o["valueAndGradientCalls"], ours_f_evals=ours_f, ours_g_evals=ours_g,
                         ours_calls=ours_f + ours_g, ours_iterations=o["iterations"], ours_f=o["loss"], ours_gmax=o["gradientMaxNorm"],
                         reached=reached, compared=bool(s.success),
                         ok=bool(s.success and reached and ours_f + ours_g <= s.nfev + s.njev)))
        for k, xs in enumerate(perturbed_starts(x0, mgh, starts - 1)):
            s, floor, target, o = side_by_side(java, cp, fg, xs, args, scipy_c2)
            calls = o["valueCalls"] + 2 * o["valueAndGradientCalls"]
            perturbed.append(dict(problem=name, start=k + 1, compared=bool(s.success), scipy_calls=int(s.nfev + s.njev), target=target,
                                  ours_calls=calls, reached=o["gradientMaxNorm"] <= target,
                                  ok=bool(s.success and o["gradientMaxNorm"] <= target and calls <= s.nfev + s.njev)))
        # Progress on stderr (the tables go to stdout at the end): a run with --starts 10 takes minutes.
        mine = [r for r in perturbed if r["problem"] == name]
        print("[%d/%d] %s: ours %d calls, SciPy %d%s" % (number, len(PROBLEMS), name, rows[-1]["ours_calls"], rows[-1]["scipy_calls"],
              "; perturbed starts: no more calls than SciPy in %d of %d" % (sum(r["ok"] for r in mine), sum(r["compared"] for r in mine))
              if mine else ""), file=sys.stderr, flush=True)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(dict(args=args, scipy_c2=scipy_c2, rows=rows, perturbed=perturbed), f, indent=1)
    head = ["problem", "n", "SciPy f+g calls (nfev/njev)", "target max|g|", "ours f+g calls (f/g)", "ours max|g|", "ours f", "SciPy f", "verdict"]
    table = []
    for r in rows:
        if not r["compared"]:
            verdict = "SciPy stopped early (%s); ours %s the target" % (r["scipy_message"].split(".")[0].lower(), "reached" if r["reached"] else "did not reach")
        else:
            verdict = ("fewer or equal" if r["ours_calls"] <= r["scipy_calls"] else "MORE") if r["reached"] else "NOT REACHED (%s)" % r["ours_status"].lower()
        table.append([r["problem"], str(r["n"]), "%d (%d/%d)" % (r["scipy_calls"], r["scipy_nfev"], r["scipy_njev"]),
                      ("%.1e" % r["target"]) + ("" if r["target"] == GTOL else " (floor)"),
                      "%d (%d/%d)" % (r["ours_calls"], r["ours_f_evals"], r["ours_g_evals"]), "%.1e" % r["ours_gmax"],
                      "%.4g" % r["ours_f"], "%.4g" % r["scipy_f"], verdict])
    text, md = render(head, table)
    compared = [r for r in rows if r["compared"]]
    summary = "ours reached SciPy's stopping point with no more calls on %d of %d problems SciPy solved (ours: %s; SciPy: c2 %g)" % (
        sum(r["ok"] for r in compared), len(compared), " ".join(args) or "defaults", scipy_c2)
    if perturbed:
        # Every problem from the standard start and the perturbed ones: how often ours needs no more calls, and the ratio.
        every = [dict(problem=r["problem"], compared=r["compared"], ok=r["ok"], ratio=r["ours_calls"] / r["scipy_calls"] if r["reached"] else 10)
                 for r in rows] + [dict(problem=r["problem"], compared=r["compared"], ok=r["ok"], ratio=r["ours_calls"] / r["scipy_calls"] if r["reached"] else 10)
                                   for r in perturbed]
        ptable = []
        for name, *_ in PROBLEMS:
            runs = [r for r in every if r["problem"] == name and r["compared"]]
            if runs:
                ptable.append([name, "%d of %d" % (sum(r["ok"] for r in runs), len(runs)), "%.2f" % geomean([r["ratio"] for r in runs])])
        ptext, pmd = render(["problem", "no more calls than SciPy", "ours / SciPy calls (geometric mean)"], ptable)
        runs = [r for r in every if r["compared"]]
        psummary = "from the standard and %d perturbed starts each: no more calls than SciPy in %d of %d runs SciPy solved; ours / SciPy calls: geometric mean %.3f" % (
            starts - 1, sum(r["ok"] for r in runs), len(runs), geomean([r["ratio"] for r in runs]))
        text += "\n" + summary + "\n\n" + ptext
        md += "\n\n" + summary + "\n\n" + pmd
        summary = psummary
    for name, body in (("table.txt", text + "\n" + summary), ("table.md", md + "\n\n" + summary)):
        with open(os.path.join(out, name), "w") as f:
            f.write(body + "\n")
    print(text)
    print(summary)


def geomean(values):
    return float(np.exp(np.mean(np.log(values))))


def render(head, table):
    """The table as aligned text and as Markdown."""
    w = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    text = "\n".join(["  ".join(c.ljust(w[i]) for i, c in enumerate(t)) for t in [head, ["-" * x for x in w]] + table])
    md = "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(t) + " |" for t in table])
    return text, md


if __name__ == "__main__":
    main()
