"""Our CG (float32, through dev.twophase.bench.CgStdio) and SciPy's minimize(method='CG') (float64)
side by side on classic unconstrained problems (Moré, Garbow and Hillstrom 1981, ACM TOMS 7) from
their standard starting points. Both see the same float64 function defined once here; see
scripts/cg-vs-scipy for what is compared. Usage: cg_vs_scipy.py CLASSPATH OUTDIR [CgStdio args]."""
import json, os, struct, subprocess, sys

import numpy as np
from scipy.optimize import minimize


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


N = 100
# (name, MGH number, function, standard start, why it is here)
PROBLEMS = [
    ("rosenbrock", 1, rosenbrock, np.array([-1.2, 1.0]), "curved valley"),
    ("freudenstein-roth", 2, freudenstein_roth, np.array([0.5, -2.0]), "local minimum f = 48.98 near the start"),
    ("powell-badly-scaled", 3, powell_badly_scaled, np.array([0.0, 1.0]), "badly scaled: x* = (1.1e-5, 9.1)"),
    ("brown-badly-scaled", 4, brown_badly_scaled, np.array([1.0, 1.0]), "badly scaled: x* = (1e6, 2e-6)"),
    ("beale", 5, beale, np.array([1.0, 1.0]), "flat valley"),
    ("wood", 14, wood, np.array([-3.0, -1.0, -3.0, -1.0]), "n = 4, saddle near the path"),
    ("extended-rosenbrock", 21, extended_rosenbrock, np.tile([-1.2, 1.0], N // 2), "n = 100"),
    ("extended-powell", 22, extended_powell, np.tile([3.0, -1.0, 0.0, 1.0], N // 4), "n = 100, singular Hessian at x* = 0"),
    ("trigonometric", 26, trigonometric, np.full(N, 1.0 / N), "n = 100, dense"),
    ("penalty-1", 23, penalty_1, np.arange(1.0, N + 1), "n = 100, badly scaled: terms 1e-5 and 1"),
    ("variably-dimensioned", 25, variably_dimensioned, 1 - np.arange(1, N + 1) / N, "n = 100, badly scaled: f(x0) = 1e13"),
    ("broyden-tridiagonal", 30, broyden_tridiagonal, np.full(N, -1.0), "n = 100, sparse"),
]

GTOL = 1e-5  # SciPy's default: max |g| <= 1e-5


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


def main():
    cp, out = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java")
    rows = []
    for name, mgh, fg, x0, note in PROBLEMS:
        s = minimize(lambda x: fg(x)[0], x0, jac=lambda x: fg(x)[1], method="CG")
        s_gmax = float(np.max(np.abs(fg(s.x)[1])))
        # The minimizer SciPy reached, polished; where SciPy failed, BFGS goes on from SciPy's last point.
        floor = float32_floor(fg, polish(fg, s.x))
        target = max(GTOL, floor)
        x0_32 = x0.astype(np.float32).astype(np.float64)
        o = run_ours(java, cp, fg, x0_32, ["--gtol", repr(target), "--max-evals", "100000"] + args)
        ours_f, ours_g = o["valueCalls"] + o["valueAndGradientCalls"], o["valueAndGradientCalls"]
        reached = o["gradientMaxNorm"] <= target
        rows.append(dict(problem=name, mgh=mgh, n=len(x0), note=note, scipy_status=int(s.status), scipy_message=s.message,
                         scipy_nfev=int(s.nfev), scipy_njev=int(s.njev), scipy_calls=int(s.nfev + s.njev), scipy_f=float(s.fun),
                         scipy_gmax=s_gmax, floor=floor, target=target, ours_status=o["status"], ours_values=o["valueCalls"],
                         ours_value_gradients=o["valueAndGradientCalls"], ours_f_evals=ours_f, ours_g_evals=ours_g,
                         ours_calls=ours_f + ours_g, ours_iterations=o["iterations"], ours_f=o["loss"], ours_gmax=o["gradientMaxNorm"],
                         reached=reached, compared=bool(s.success),
                         ok=bool(s.success and reached and ours_f + ours_g <= s.nfev + s.njev)))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(dict(args=args, rows=rows), f, indent=1)
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
    w = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    text = "\n".join(["  ".join(c.ljust(w[i]) for i, c in enumerate(t)) for t in [head, ["-" * x for x in w]] + table])
    md = "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(t) + " |" for t in table])
    compared = [r for r in rows if r["compared"]]
    summary = "ours reached SciPy's stopping point with no more calls on %d of %d problems SciPy solved (%s)" % (
        sum(r["ok"] for r in compared), len(compared), " ".join(args) or "defaults")
    for name, body in (("table.txt", text + "\n" + summary), ("table.md", md + "\n\n" + summary)):
        with open(os.path.join(out, name), "w") as f:
            f.write(body + "\n")
    print(text)
    print(summary)


if __name__ == "__main__":
    main()
