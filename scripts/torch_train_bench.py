#!/usr/bin/python3
"""Training throughput of PyTorch on the CPU, the peer of `twophase throughput`.

Same models, shapes and loop as dev.twophase.cli.ThroughputCommand: random inputs of shape
CxHxW, one-hot targets, MSE (mean over batch and outputs), Adam lr 1e-3, mini-batches of
--batch-size over --samples samples per round; the median samples/s over --rounds timed rounds
after --warmup untimed ones.

  mlp   : dense C*H*W -> hidden widths (ReLU) -> classes
  vgg5  : conv3x3(32) ReLU maxpool2, conv3x3(64) ReLU maxpool2, conv3x3(64) ReLU maxpool2,
          dense(128) ReLU, dense(classes)  (padding 1), as twophase's vgg5-max-relu

Usage: /usr/bin/python3 scripts/torch_train_bench.py --model vgg5 --input 1x28x28 --threads 2
"""
import argparse
import statistics
import time

import torch
from torch import nn


def vgg5(c, h, w, classes):
    layers = []
    for out in (32, 64, 64):
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = out, h // 2, w // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * h * w, 128), nn.ReLU(), nn.Linear(128, classes))


def mlp(c, h, w, hidden, classes):
    layers, width = [nn.Flatten()], c * h * w
    for out in hidden:
        layers += [nn.Linear(width, out), nn.ReLU()]
        width = out
    return nn.Sequential(*layers, nn.Linear(width, classes))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["mlp", "vgg5"], default="mlp")
    ap.add_argument("--input", default="1x28x28", help="CxHxW (default 1x28x28)")
    ap.add_argument("--hidden", default="256,128", help="MLP hidden widths (default 256,128)")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--samples", type=int, default=10240)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    c, h, w = (int(v) for v in args.input.split("x"))
    model = vgg5(c, h, w, args.classes) if args.model == "vgg5" else mlp(c, h, w, [int(v) for v in args.hidden.split(",")], args.classes)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(args.batch_size, c, h, w)
    y = torch.zeros(args.batch_size, args.classes)
    y[torch.arange(args.batch_size), torch.randint(args.classes, (args.batch_size,))] = 1
    loss_fn = nn.MSELoss()

    rates = []
    for rnd in range(-args.warmup, args.rounds):
        t0 = time.perf_counter()
        done = 0
        while done < args.samples:
            rows = min(args.batch_size, args.samples - done)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[:rows]), y[:rows])
            loss.backward()
            opt.step()
            done += rows
        if rnd >= 0:
            rates.append(args.samples / (time.perf_counter() - t0))
    print(f"torch {torch.__version__} {args.model} {args.input}: {params} parameters, batch {args.batch_size}, "
          f"{args.threads} threads: median {statistics.median(rates):.0f} samples/s "
          f"(min {min(rates):.0f}, max {max(rates):.0f} over {args.rounds} rounds of {args.samples})")


if __name__ == "__main__":
    main()
