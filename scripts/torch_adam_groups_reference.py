#!/usr/bin/python3
"""Generate PyTorch reference values for AMSGrad and per-tensor weight decay as a Java test fixture.

Purpose
-------
twophase's Adam has two options beyond torch_adam_reference.py's cases: AMSGrad
(torch.optim.Adam/AdamW with amsgrad=True) and weight decay that differs by
tensor (PyTorch's parameter groups; twophase's AdamConfig.withWeightDecay(name
or predicate, value)).  This script runs PyTorch (float32, foreach=False) on
small fixed problems of several named tensors and writes the flat
concatenation of the tensors, in layout order, after every step into

    java/twophase-core/src/test/java/dev/twophase/optim/reference/TorchAdamGroupsReference.java

Each tensor gets the weight decay of its case; tensors of equal decay share one
parameter group (PyTorch updates each parameter independently, so grouping and
order change nothing).  Gradients are random with one element ~100 and one
~1e-4 per tensor, scaled per step by STEP_SCALES so that the second moment
falls on some steps: AMSGrad's running maximum then differs from it, which the
script asserts.

Usage
-----
    /usr/bin/python3 scripts/torch_adam_groups_reference.py            # writes the Java file
    /usr/bin/python3 scripts/torch_adam_groups_reference.py --stdout   # print it instead

Needs torch and numpy (Debian: apt-get install python3-torch).
"""

import argparse
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_adam_reference import jfloat, jrow, jmatrix, cpu_capability, _fma  # noqa: E402

STEP_SCALES = [1.0, 4.0, 0.25, 0.05, 2.0, 0.1, 0.02, 1.0]

DEFAULT_OUTPUT = os.path.join(
    "java", "twophase-core", "src", "test", "java", "dev", "twophase", "optim", "reference", "TorchAdamGroupsReference.java")

# name, optimizer, lr, (beta1, beta2), eps, amsgrad, [(tensor, shape, weight_decay)], seed, doc
CASES = [
    ("AMSGRAD_ADAM", "Adam", 1e-2, (0.9, 0.99), 1e-8, True, [("w", (7,), 0.0)], 2001,
     "torch.optim.Adam, lr=1e-2, betas=(0.9, 0.99), eps=1e-8, amsgrad=True."),
    ("AMSGRAD_ADAMW", "AdamW", 1e-2, (0.9, 0.999), 1e-8, True, [("w", (7,), 0.1)], 2002,
     "torch.optim.AdamW, lr=1e-2, weight_decay=0.1, amsgrad=True."),
    ("GROUPS_ADAMW", "AdamW", 1e-2, (0.9, 0.999), 1e-8, False,
     [("w", (3, 2), 0.1), ("b", (3,), 0.0), ("g", (4,), 0.1)], 2003,
     "torch.optim.AdamW, lr=1e-2; parameter groups: w and g weight_decay=0.1, b weight_decay=0."),
    ("GROUPS_ADAM_L2", "Adam", 1e-2, (0.8, 0.99), 1e-6, False,
     [("w", (3, 2), 0.05), ("b", (3,), 0.0), ("g", (4,), 0.2)], 2004,
     "torch.optim.Adam (L2), lr=1e-2, betas=(0.8, 0.99), eps=1e-6; weight_decay w=0.05, b=0, g=0.2."),
    ("GROUPS_ADAMW_AMSGRAD", "AdamW", 3e-3, (0.9, 0.999), 1e-8, True,
     [("w", (3, 2), 0.1), ("b", (3,), 0.0), ("g", (4,), 0.1)], 2005,
     "torch.optim.AdamW, lr=3e-3, amsgrad=True; weight_decay w and g=0.1, b=0."),
]


def make_tensor_data(seed, shapes):
    torch.manual_seed(seed)
    params, grads = [], []
    for shape in shapes:
        n = int(np.prod(shape))
        params.append(torch.randn(n, dtype=torch.float32))
        gs = []
        for t in range(len(STEP_SCALES)):
            g = torch.randn(n, dtype=torch.float32)
            r = torch.randn(2, dtype=torch.float32)
            if n >= 3:
                g[1] = torch.sign(r[0]) * 100.0 * (1.0 + 0.1 * torch.tanh(r[0]))
                g[2] = -torch.sign(r[0]) * 1e-4 * (1.0 + 0.2 * torch.tanh(r[1]))
            gs.append(g * STEP_SCALES[t])
        grads.append(torch.stack(gs))
    return params, grads


def run_case(opt_name, lr, betas, eps, amsgrad, tensors, seed):
    params0, grads = make_tensor_data(seed, [shape for _, shape, _ in tensors])
    ps = [torch.nn.Parameter(p.clone()) for p in params0]
    groups = {}
    for p, (_, _, wd) in zip(ps, tensors):
        groups.setdefault(wd, []).append(p)
    cls = getattr(torch.optim, opt_name)
    opt = cls([{"params": g, "weight_decay": wd} for wd, g in groups.items()],
              lr=lr, betas=betas, eps=eps, amsgrad=amsgrad, foreach=False)
    out = {"params": [], "exp_avg": [], "exp_avg_sq": [], "max_exp_avg_sq": []}
    for t in range(len(STEP_SCALES)):
        for p, g in zip(ps, grads):
            p.grad = g[t].clone()
        opt.step()
        out["params"].append(torch.cat([p.detach().clone() for p in ps]))
        out["exp_avg"].append(torch.cat([opt.state[p]["exp_avg"].clone() for p in ps]))
        out["exp_avg_sq"].append(torch.cat([opt.state[p]["exp_avg_sq"].clone() for p in ps]))
        if amsgrad:
            out["max_exp_avg_sq"].append(torch.cat([opt.state[p]["max_exp_avg_sq"].clone() for p in ps]))
    res = {k: torch.stack(v) if v else None for k, v in out.items()}
    res["params0"] = torch.cat(params0)
    res["grads"] = torch.cat(grads, dim=1)
    res["wd"] = np.concatenate([np.full(int(np.prod(shape)), wd) for _, shape, wd in tensors])
    if amsgrad:
        assert bool((res["max_exp_avg_sq"] != res["exp_avg_sq"]).any()), "amsgrad made no difference; change STEP_SCALES"
    return res


def emulate(res, lr, betas, eps, decoupled, amsgrad):
    """The float32 recipe of TorchAdamReference, plus AMSGrad's maximum; returns the largest difference to torch."""
    f32 = np.float32
    b1, b2 = betas
    p = res["params0"].numpy().astype(f32)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    wd = res["wd"]
    worst = 0.0
    for t in range(len(STEP_SCALES)):
        g = res["grads"][t].numpy().astype(f32)
        step = t + 1
        if decoupled:
            p = f32(p * (1.0 - lr * wd).astype(f32))
        else:
            g = np.where(wd != 0, _fma(p, wd.astype(f32), g), g).astype(f32)
        m = _fma(g, f32(1.0 - b1), f32(m * f32(b1)))
        v = _fma(f32(f32(1.0 - b2) * g), g, f32(v * f32(b2)))
        step_size = lr / (1.0 - b1 ** step)
        bc2_sqrt = math.sqrt(1.0 - b2 ** step)
        if amsgrad:
            vmax = np.maximum(vmax, v)
        denom = f32(f32(np.sqrt(vmax if amsgrad else v) / f32(bc2_sqrt)) + f32(eps))
        p = f32(p + f32(f32(f32(-step_size) * m) / denom))
        pairs = [(p, res["params"][t]), (m, res["exp_avg"][t]), (v, res["exp_avg_sq"][t])]
        if amsgrad:
            pairs.append((vmax, res["max_exp_avg_sq"][t]))
        for got, want in pairs:
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want.numpy().astype(np.float64)))))
    return worst


def render(results, emu_worst):
    out = []
    w = out.append
    w("// GENERATED by scripts/torch_adam_groups_reference.py with torch %s, numpy %s. DO NOT EDIT." % (
        torch.__version__, np.__version__))
    w("// Regenerate: /usr/bin/python3 scripts/torch_adam_groups_reference.py")
    w("package dev.twophase.optim.reference;")
    w("")
    w("import java.util.List;")
    w("")
    w("/**")
    w(" * Reference trajectories of PyTorch's {@code torch.optim.Adam} / {@code torch.optim.AdamW} with")
    w(" * {@code amsgrad=True} and with weight decay by tensor (parameter groups), float32,")
    w(" * {@code foreach=False}, torch %s, CPU capability %s." % (torch.__version__, cpu_capability()))
    w(" *")
    w(" * <p>Each case has named tensors laid out one after another; arrays hold the flat")
    w(" * concatenation. At step {@code t} the gradient is {@code grads[t]}; {@code expected*[t]} are the")
    w(" * values after that step (step count {@code t + 1}); {@code expectedMaxExpAvgSq} is empty")
    w(" * without AMSGrad. Rounding follows {@link TorchAdamReference}'s recipe, with AMSGrad's")
    w(" * {@code vMax = max(vMax, v)} after v and {@code sqrt(vMax)} in the denominator.")
    if emu_worst == 0.0:
        w(" * A numpy float32 emulation of that recipe reproduced every value bit for bit at generation time.")
    else:
        w(" * A numpy float32 emulation of that recipe differed by up to %.3g at generation time." % emu_worst)
    w(" */")
    w("public final class TorchAdamGroupsReference {")
    w("")
    w("    private TorchAdamGroupsReference() {}")
    w("")
    w("    /** One reference problem; per-step arrays are indexed {@code [step][i]}. */")
    w("    public record Case(String name, float lr, float beta1, float beta2, float eps, boolean decoupled, boolean amsgrad,")
    w("                       List<String> tensorNames, int[][] tensorShapes, float[] tensorWeightDecay,")
    w("                       float[] initialParams, float[][] grads, float[][] expectedParams, float[][] expectedExpAvg,")
    w("                       float[][] expectedExpAvgSq, float[][] expectedMaxExpAvgSq) {")
    w("        public int steps() { return grads.length; }")
    w("")
    w("        @Override public String toString() { return name; }")
    w("    }")
    for (name, opt_name, lr, betas, eps, amsgrad, tensors, _, doc), res in results:
        w("")
        w("    /** %s */" % doc)
        w("    public static final Case %s = new Case(" % name)
        w("            \"%s\", %s, %s, %s, %s, %s, %s," % (name, jfloat(lr), jfloat(betas[0]), jfloat(betas[1]), jfloat(eps),
                                                   "true" if opt_name == "AdamW" else "false", "true" if amsgrad else "false"))
        w("            List.of(%s)," % ", ".join('"%s"' % t for t, _, _ in tensors))
        w("            new int[][] {%s}," % ", ".join("{" + ", ".join(str(d) for d in s) + "}" for _, s, _ in tensors))
        w("            new float[] {%s}," % ", ".join(jfloat(wd) for _, _, wd in tensors))
        w("            new float[] " + jrow(res["params0"].tolist()) + ",")
        w("            " + jmatrix(res["grads"], 12) + ",")
        w("            " + jmatrix(res["params"], 12) + ",")
        w("            " + jmatrix(res["exp_avg"], 12) + ",")
        w("            " + jmatrix(res["exp_avg_sq"], 12) + ",")
        w("            " + (jmatrix(res["max_exp_avg_sq"], 12) if amsgrad else "new float[0][]") + ");")
    w("")
    w("    /** All cases, in declaration order. */")
    w("    public static final List<Case> ALL = List.of(%s);" % ", ".join(c[0] for c, _ in results))
    w("}")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stdout", action="store_true", help="print the Java source instead of writing it")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results, emu_worst = [], 0.0
    for case in CASES:
        name, opt_name, lr, betas, eps, amsgrad, tensors, seed, _ = case
        res = run_case(opt_name, lr, betas, eps, amsgrad, tensors, seed)
        worst = emulate(res, lr, betas, eps, opt_name == "AdamW", amsgrad)
        print("%-21s float32 recipe emulation vs torch: %s" % (
            name, "bitwise identical" if worst == 0.0 else "max abs diff %.3g" % worst), file=sys.stderr)
        emu_worst = max(emu_worst, worst)
        results.append((case, res))
    src = render(results, emu_worst)
    if args.stdout:
        sys.stdout.write(src)
        return
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), DEFAULT_OUTPUT)
    with open(path, "w", encoding="utf-8") as f:
        f.write(src)
    print("wrote %s (%d cases, torch %s)" % (path, len(results), torch.__version__))


if __name__ == "__main__":
    main()
