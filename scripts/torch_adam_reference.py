#!/usr/bin/python3
"""Generate PyTorch reference values for Adam and AdamW as a Java test fixture.

Purpose
-------
The Java optimizers in dev.twophase.optim are meant to match PyTorch's
torch.optim.Adam / torch.optim.AdamW exactly (float32, the plain per-tensor
implementation, i.e. foreach=False).  This script runs PyTorch on a handful of
small, fixed problems and writes the parameters and optimizer state after every
step into

    java/twophase-core/src/test/java/dev/twophase/optim/reference/TorchAdamReference.java

as `public static final Case` constants, so the Java tests need no Python.

Each case uses n = 7 parameters and 6 steps.  Initial parameters and gradients
come from torch.manual_seed(seed) + torch.randn; every step has its own
gradient, with mixed signs and magnitudes: one element is ~100 in magnitude and
another ~1e-4 (always at the same indices, so the large and tiny second moments
persist across steps; the large one's sign is random per step and the tiny one
has the opposite sign, so every step has mixed signs).  The gradient of each step is used as
given (p.grad = grads[t]; opt.step()); with weight_decay and Adam, PyTorch adds
weight_decay * p to it internally (L2 form); AdamW decays p directly
(decoupled).

Cases
-----
  ADAM_DEFAULTS   Adam  lr=1e-3 betas=(0.9, 0.999) eps=1e-8 weight_decay=0
  ADAM_L2         Adam  lr=1e-2 betas=(0.8, 0.99)  eps=1e-6 weight_decay=0.05
  ADAMW           AdamW lr=1e-2 betas=(0.9, 0.999) eps=1e-8 weight_decay=0.1
  ADAMW_DEFAULTS  AdamW with all PyTorch defaults (lr=1e-3, weight_decay=1e-2)

Usage
-----
    /usr/bin/python3 scripts/torch_adam_reference.py            # writes the Java file
    /usr/bin/python3 scripts/torch_adam_reference.py --stdout   # print it instead
    /usr/bin/python3 scripts/torch_adam_reference.py --output path/to/File.java

Run from anywhere; the default output path is relative to the repository root
(the parent of this script's directory).  Needs only torch and numpy (Debian:
apt-get install python3-torch).  The output is deterministic for a given torch
version; the version is recorded in the generated file's header.
"""

import argparse
import math
import os
import sys

import numpy as np
import torch

N_PARAMS = 7
N_STEPS = 6
BIG_INDEX = 1     # gradient element of magnitude ~100
SMALL_INDEX = 4   # gradient element of magnitude ~1e-4

DEFAULT_OUTPUT = os.path.join(
    "java", "twophase-core", "src", "test", "java", "dev", "twophase", "optim", "reference", "TorchAdamReference.java")

# name, optimizer class, lr, (beta1, beta2), eps, weight_decay, decoupled, seed
CASES = [
    ("ADAM_DEFAULTS", "Adam", 1e-3, (0.9, 0.999), 1e-8, 0.0, False, 1001),
    ("ADAM_L2", "Adam", 1e-2, (0.8, 0.99), 1e-6, 0.05, False, 1002),
    ("ADAMW", "AdamW", 1e-2, (0.9, 0.999), 1e-8, 0.1, True, 1003),
    ("ADAMW_DEFAULTS", "AdamW", None, None, None, None, True, 1004),
]

CASE_DOCS = {
    "ADAM_DEFAULTS": "torch.optim.Adam with defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.",
    "ADAM_L2": "torch.optim.Adam, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05 (L2: added to the gradient).",
    "ADAMW": "torch.optim.AdamW, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1 (decoupled).",
    "ADAMW_DEFAULTS": "torch.optim.AdamW with all defaults: lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2 (decoupled).",
}


def make_data(seed):
    """Initial params [n] and grads [steps][n], float32, all nonzero."""
    torch.manual_seed(seed)
    params = torch.randn(N_PARAMS, dtype=torch.float32)
    grads = []
    for _ in range(N_STEPS):
        g = torch.randn(N_PARAMS, dtype=torch.float32)
        r = torch.randn(2, dtype=torch.float32)
        # large element: |g| in roughly [80, 120], random sign
        g[BIG_INDEX] = torch.sign(r[0]) * 100.0 * (1.0 + 0.1 * torch.tanh(r[0]))
        # small element: |g| in roughly [0.8e-4, 1.2e-4], sign opposite to the large one
        # (so every step has mixed signs whatever randn draws)
        g[SMALL_INDEX] = -torch.sign(r[0]) * 1e-4 * (1.0 + 0.2 * torch.tanh(r[1]))
        grads.append(g)
    grads = torch.stack(grads)
    assert bool((params != 0).all()) and bool((grads != 0).all()), "zero drawn; change the seed"
    for t in range(N_STEPS):
        assert bool((grads[t] > 0).any()) and bool((grads[t] < 0).any()), "grads must have mixed signs"
    return params, grads


def run_case(opt_name, lr, betas, eps, weight_decay, seed):
    params0, grads = make_data(seed)
    p = torch.nn.Parameter(params0.clone())
    cls = getattr(torch.optim, opt_name)
    kwargs = {"foreach": False}
    if lr is not None:
        kwargs.update(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    opt = cls([p], **kwargs)
    group = opt.param_groups[0]
    hyper = dict(lr=group["lr"], beta1=group["betas"][0], beta2=group["betas"][1],
                 eps=group["eps"], weight_decay=group["weight_decay"])
    assert not group["amsgrad"] and not group["maximize"]
    exp_params, exp_m, exp_v = [], [], []
    for t in range(N_STEPS):
        p.grad = grads[t].clone()
        opt.step()
        st = opt.state[p]
        exp_params.append(p.detach().clone())
        exp_m.append(st["exp_avg"].clone())
        exp_v.append(st["exp_avg_sq"].clone())
    for arr in exp_params + exp_m + exp_v:
        assert arr.dtype == torch.float32 and bool(torch.isfinite(arr).all())
    return dict(hyper=hyper, params0=params0, grads=grads,
                params=torch.stack(exp_params), exp_avg=torch.stack(exp_m),
                exp_avg_sq=torch.stack(exp_v))


def _fma(a, b, c):
    """float32 fused multiply-add a*b + c (via float64: the product of two float32
    values is exact there; the final float64 -> float32 rounding is what matters)."""
    return np.float32(np.float64(a) * np.float64(b) + np.float64(c))


def emulate(res, decoupled):
    """Re-derive a case with a plain float32 numpy recipe (see RECIPE_DOC).

    Returns the largest absolute difference to PyTorch over params, exp_avg and
    exp_avg_sq (0.0 means bit-for-bit identical).  This documents the exact
    rounding behaviour the Java implementation must copy to match bitwise.
    """
    f32 = np.float32
    h = res["hyper"]  # Python doubles, as PyTorch keeps them
    lr, b1, b2, eps, wd = h["lr"], h["beta1"], h["beta2"], h["eps"], h["weight_decay"]
    p = res["params0"].numpy().astype(f32)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    worst = 0.0
    for t in range(N_STEPS):
        g = res["grads"][t].numpy().astype(f32)
        step = t + 1
        if decoupled:
            p = f32(p * f32(1.0 - lr * wd))
        elif wd != 0:
            g = _fma(p, f32(wd), g)
        m = _fma(g, f32(1.0 - b1), f32(m * f32(b1)))
        v = _fma(f32(f32(1.0 - b2) * g), g, f32(v * f32(b2)))
        step_size = lr / (1.0 - b1 ** step)
        bc2_sqrt = math.sqrt(1.0 - b2 ** step)
        denom = f32(f32(np.sqrt(v) / f32(bc2_sqrt)) + f32(eps))
        p = f32(p + f32(f32(f32(-step_size) * m) / denom))
        for got, want in ((p, res["params"][t]), (m, res["exp_avg"][t]), (v, res["exp_avg_sq"][t])):
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want.numpy().astype(np.float64)))))
    return worst


RECIPE_DOC = """\
 * <p>Rounding, as observed with this torch build ({@code foreach=False}; CPU capability %s).
 * Hyperparameters stay Python doubles: {@code lr} is 0.001, not {@code (double) 0.001f}
 * (recover the decimal value with {@code Double.parseDouble(Float.toString(x))}).
 * Per step {@code t} (1-based), in double: {@code a1 = 1 - beta1}, {@code a2 = 1 - beta2},
 * {@code stepSize = lr / (1 - pow(beta1, t))}, {@code bc2Sqrt = sqrt(1 - pow(beta2, t))},
 * {@code decay = 1 - lr * weightDecay}; each is then rounded to float ({@code (float)}) where
 * it meets a float tensor. Per element, in float ({@code fma} = {@code Math.fma}):
 * <pre>
 *   if (decoupled) p = p * (float) decay;
 *   else if (weightDecay != 0) g = fma(p, (float) weightDecay, g);
 *   m = fma(g, (float) a1, m * (float) beta1);
 *   v = fma((float) a2 * g, g, v * (float) beta2);
 *   denom = (float) Math.sqrt(v) / (float) bc2Sqrt + (float) eps;
 *   p = p + ((float) -stepSize * m) / denom;
 * </pre>
 * %s"""


def jfloat(x):
    """A Java float literal that round-trips the float32 value x exactly."""
    x = np.float32(x)
    if not np.isfinite(x):
        raise ValueError("non-finite value %r" % x)
    if x == 0:
        s = "-0.0" if math.copysign(1.0, float(x)) < 0 else "0.0"
    else:
        s = "%.9g" % x
        if "." not in s and "e" not in s:
            s += ".0"
    back = np.float32(float(s))
    assert back.tobytes() == x.tobytes(), (s, x)
    return s + "f"


def jrow(values):
    return "{" + ", ".join(jfloat(v) for v in values) + "}"


def jmatrix(rows, indent):
    pad = " " * indent
    lines = ["new float[][] {"]
    for r in rows:
        lines.append(pad + "    " + jrow(r.tolist()) + ",")
    lines.append(pad + "}")
    return "\n".join(lines)


def cpu_capability():
    """The ATen CPU kernel flavour in use (DEFAULT, AVX2, AVX512): it decides where FMAs happen."""
    try:
        return torch.backends.cpu.get_cpu_capability()  # torch >= 2.0
    except AttributeError:
        for line in torch.__config__.show().splitlines():
            if "CPU capability usage:" in line:
                return line.split(":", 1)[1].strip()
    return "unknown"


def render(results, emu_worst):
    out = []
    w = out.append
    w("// GENERATED by scripts/torch_adam_reference.py with torch %s, numpy %s. DO NOT EDIT." % (
        torch.__version__, np.__version__))
    w("// Regenerate: /usr/bin/python3 scripts/torch_adam_reference.py")
    w("package dev.twophase.optim.reference;")
    w("")
    w("import java.util.List;")
    w("")
    w("/**")
    w(" * Reference trajectories of PyTorch's {@code torch.optim.Adam} / {@code torch.optim.AdamW}")
    w(" * (float32, {@code foreach=False}, torch %s)." % torch.__version__)
    w(" *")
    w(" * <p>Each case has %d parameters and %d steps. At step {@code t} the gradient is" % (N_PARAMS, N_STEPS))
    w(" * {@code grads[t]} exactly as given (for Adam with weight decay PyTorch adds")
    w(" * {@code weightDecay * p} to it; AdamW decays the parameters directly), and")
    w(" * {@code expectedParams[t]}, {@code expectedExpAvg[t]}, {@code expectedExpAvgSq[t]} are the")
    w(" * parameters and the first / second moment estimates after that step (step count {@code t + 1}).")
    w(" * Element %d of each gradient is ~100 in magnitude and element %d ~1e-4." % (BIG_INDEX, SMALL_INDEX))
    w(" *")
    if emu_worst == 0.0:
        verdict = "A numpy float32 emulation of this recipe reproduced every value bit for bit at generation time."
    else:
        verdict = ("A numpy float32 emulation of this recipe did NOT reproduce the values bit for bit at generation"
                   " time (largest absolute difference %.3g); compare with a tolerance." % emu_worst)
    cap = cpu_capability()
    w(RECIPE_DOC % (cap, verdict))
    w(" */")
    w("public final class TorchAdamReference {")
    w("")
    w("    private TorchAdamReference() {}")
    w("")
    w("    /** One reference problem; arrays are indexed {@code [step][i]}. */")
    w("    public record Case(")
    w("            String name,")
    w("            float lr,")
    w("            float beta1,")
    w("            float beta2,")
    w("            float eps,")
    w("            float weightDecay,")
    w("            boolean decoupled,")
    w("            float[] initialParams,")
    w("            float[][] grads,")
    w("            float[][] expectedParams,")
    w("            float[][] expectedExpAvg,")
    w("            float[][] expectedExpAvgSq) {")
    w("")
    w("        public int steps() {")
    w("            return grads.length;")
    w("        }")
    w("")
    w("        @Override")
    w("        public String toString() {")
    w("            return name;")
    w("        }")
    w("    }")
    for name, decoupled, res in results:
        h = res["hyper"]
        w("")
        w("    /** %s */" % CASE_DOCS[name])
        w("    public static final Case %s = new Case(" % name)
        w("            \"%s\"," % name)
        w("            %s, // lr" % jfloat(h["lr"]))
        w("            %s, // beta1" % jfloat(h["beta1"]))
        w("            %s, // beta2" % jfloat(h["beta2"]))
        w("            %s, // eps" % jfloat(h["eps"]))
        w("            %s, // weightDecay" % jfloat(h["weight_decay"]))
        w("            %s, // decoupled" % ("true" if decoupled else "false"))
        w("            // initialParams")
        w("            new float[] " + jrow(res["params0"].tolist()) + ",")
        w("            // grads")
        w("            " + jmatrix(res["grads"], 12) + ",")
        w("            // expectedParams")
        w("            " + jmatrix(res["params"], 12) + ",")
        w("            // expectedExpAvg")
        w("            " + jmatrix(res["exp_avg"], 12) + ",")
        w("            // expectedExpAvgSq")
        w("            " + jmatrix(res["exp_avg_sq"], 12) + ");")
    w("")
    w("    /** All cases, in declaration order. */")
    w("    public static final List<Case> ALL = List.of(%s);" % ", ".join(n for n, _, _ in results))
    w("}")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", default=None,
                    help="output Java file (default: <repo>/%s)" % DEFAULT_OUTPUT)
    ap.add_argument("--stdout", action="store_true", help="print the Java source instead of writing it")
    args = ap.parse_args()

    torch.set_num_threads(1)
    results = []
    emu_worst = 0.0
    for name, opt_name, lr, betas, eps, wd, decoupled, seed in CASES:
        res = run_case(opt_name, lr, betas, eps, wd, seed)
        worst = emulate(res, decoupled)
        print("%-15s float32 recipe emulation vs torch: %s" % (
            name, "bitwise identical" if worst == 0.0 else "max abs diff %.3g" % worst), file=sys.stderr)
        emu_worst = max(emu_worst, worst)
        results.append((name, decoupled, res))
    src = render(results, emu_worst)

    if args.stdout:
        sys.stdout.write(src)
        return
    path = args.output
    if path is None:
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.path.join(repo, DEFAULT_OUTPUT)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(src)
    print("wrote %s (%d cases, torch %s)" % (path, len(results), torch.__version__))


if __name__ == "__main__":
    main()
