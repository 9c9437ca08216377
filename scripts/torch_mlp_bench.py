#!/usr/bin/python3
"""PyTorch CPU training throughput of a small MLP, for comparison with twophase.

Purpose
-------
Measures how many training samples per second PyTorch (float32, CPU) processes
for an MLP shaped like the ones twophase trains, so the Java numbers have a
reference point.  Each training step is forward + MSE loss + backward +
Adam step (+ zero_grad) on one mini-batch:

    input (--inputs) -> Linear -> act -> ... -> Linear -> 10 outputs
    loss = mean over batch and outputs of (output - one_hot(label))^2
    optimizer = torch.optim.Adam(lr=1e-3)   (torch defaults otherwise)

Data are random: features ~ N(0, 1), labels uniform in 0..9, generated once
before timing.  An epoch walks the samples in order in batches of --batch-size
(the last batch may be smaller); with --shuffle it walks a fresh random
permutation each epoch.  After --warmup untimed epochs (plus a few untimed
batches), --epochs epochs are timed one by one and the report gives the median
samples/s (and the best and worst epoch).

Defaults model the digits problem: 64 inputs, hidden "64,64", tanh, 1797
samples, batch 512, 2 threads, 20 timed epochs after 2 warmup epochs.
`--model mlp784` switches the defaults to an MNIST-sized network: 784 inputs,
hidden "256,128", relu, 60000 samples, 1 timed epoch after no warmup epoch.
Explicit options override the preset.

Usage
-----
    /usr/bin/python3 scripts/torch_mlp_bench.py
    /usr/bin/python3 scripts/torch_mlp_bench.py --hidden 128,64,32 --activation relu
    /usr/bin/python3 scripts/torch_mlp_bench.py --model mlp784 --threads 1
    /usr/bin/python3 scripts/torch_mlp_bench.py --json

Needs only torch (Debian: apt-get install python3-torch).

BLAS matters: Debian's python3-torch does its float GEMMs (the Linear layers)
through the system libblas.so.3, which is the slow netlib reference BLAS unless
an optimized one is installed (e.g. apt-get install libopenblas0-openmp, which
takes over libblas.so.3 via update-alternatives).  The report names the BLAS /
LAPACK libraries actually mapped into the process, so numbers can be compared.
"""

import argparse
import json
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

N_CLASSES = 10

PRESETS = {
    "mlp": dict(inputs=64, hidden="64,64", activation="tanh", samples=1797, epochs=20, warmup=2),
    "mlp784": dict(inputs=784, hidden="256,128", activation="relu", samples=60000, epochs=1, warmup=0),
}
ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}
WARMUP_BATCHES = 5


def loaded_blas():
    """Paths of the BLAS / LAPACK shared libraries mapped into this process (Linux only)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if any(k in p.rsplit("/", 1)[-1].lower() for k in ("blas", "lapack", "mkl")))


def build_model(inputs, hidden, activation):
    layers, width = [], inputs
    for h in hidden:
        layers += [torch.nn.Linear(width, h), ACTIVATIONS[activation]()]
        width = h
    layers.append(torch.nn.Linear(width, N_CLASSES))
    return torch.nn.Sequential(*layers)


def parse_hidden(text):
    text = text.strip()
    if not text:
        return []
    sizes = [int(s) for s in text.split(",")]
    if any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError("hidden sizes must be positive")
    return sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(PRESETS), default="mlp",
                    help="preset: mlp (64 -> 64,64 tanh, 1797 samples) or mlp784 "
                         "(784 -> 256,128 relu, 60000 samples, 1 epoch); default mlp")
    ap.add_argument("--inputs", type=int, help="input features (preset: 64 / 784)")
    ap.add_argument("--hidden", type=str, help='hidden layer sizes, comma separated (preset: "64,64" / "256,128")')
    ap.add_argument("--activation", choices=sorted(ACTIVATIONS), help="hidden activation (preset: tanh / relu)")
    ap.add_argument("--samples", type=int, help="number of random samples (preset: 1797 / 60000)")
    ap.add_argument("--batch-size", type=int, default=512, help="mini-batch size (default 512)")
    ap.add_argument("--epochs", type=int, help="timed epochs (preset: 20 / 1)")
    ap.add_argument("--warmup", type=int, help="untimed warmup epochs (preset: 2 / 0)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    ap.add_argument("--shuffle", action="store_true", help="reshuffle the samples every epoch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = ap.parse_args()

    preset = PRESETS[args.model]
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        hidden = parse_hidden(args.hidden)
    except (ValueError, argparse.ArgumentTypeError) as e:
        ap.error("--hidden: %s" % e)
    if min(args.inputs, args.samples, args.batch_size, args.epochs, args.threads) <= 0 or args.warmup < 0:
        ap.error("sizes, --epochs and --threads must be positive, --warmup non-negative")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x = torch.randn(args.samples, args.inputs, dtype=torch.float32)
    labels = torch.randint(0, N_CLASSES, (args.samples,))
    y = F.one_hot(labels, N_CLASSES).to(torch.float32)
    model = build_model(args.inputs, hidden, args.activation)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    bs = args.batch_size

    def train_step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(xb), yb)  # mean over batch and outputs
        loss.backward()
        opt.step()
        return loss

    def epoch():
        if args.shuffle:
            perm = torch.randperm(args.samples)
            xs, ys = x[perm], y[perm]
        else:
            xs, ys = x, y
        loss = None
        for start in range(0, args.samples, bs):
            loss = train_step(xs[start:start + bs], ys[start:start + bs])
        return loss

    for i in range(WARMUP_BATCHES):
        start = (i * bs) % args.samples
        train_step(x[start:start + bs], y[start:start + bs])
    for _ in range(args.warmup):
        epoch()
    epoch_s = []
    loss = None
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        loss = epoch()
        epoch_s.append(time.perf_counter() - t0)

    rates = [args.samples / t for t in epoch_s]
    batches = -(-args.samples // bs)
    report = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "model": args.model,
        "layers": [args.inputs] + hidden + [N_CLASSES],
        "activation": args.activation,
        "parameters": n_params,
        "samples": args.samples,
        "batch_size": bs,
        "batches_per_epoch": batches,
        "shuffle": args.shuffle,
        "threads": torch.get_num_threads(),
        "warmup_epochs": args.warmup,
        "timed_epochs": args.epochs,
        "samples_per_s_median": statistics.median(rates),
        "samples_per_s_best": max(rates),
        "samples_per_s_worst": min(rates),
        "ms_per_epoch_median": statistics.median(epoch_s) * 1e3,
        "ms_per_batch_median": statistics.median(epoch_s) * 1e3 / batches,
        "final_loss": float(loss.detach()),
        "blas": loaded_blas(),
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    print("torch %s, %s threads; model %s %s, %s, %d parameters; Adam lr=%g, MSE on one-hot" % (
        report["torch"], report["threads"], args.model, "-".join(map(str, report["layers"])),
        args.activation, n_params, args.lr))
    print("%d samples, batch %d (%d batches/epoch)%s; %d warmup + %d timed epochs" % (
        args.samples, bs, batches, ", shuffled" if args.shuffle else "", args.warmup, args.epochs))
    print("samples/s  median %.0f   best %.0f   worst %.0f" % (
        report["samples_per_s_median"], report["samples_per_s_best"], report["samples_per_s_worst"]))
    print("ms/epoch   median %.2f   ms/batch %.3f   final loss %.5f" % (
        report["ms_per_epoch_median"], report["ms_per_batch_median"], report["final_loss"]))
    print("BLAS/LAPACK loaded: %s" % (", ".join(report["blas"]) or "none found"))


if __name__ == "__main__":
    main()
