"""Price proposed changes to mlcore.training.train's inner loop, one at a time.

Companion to bench/train_speed.py. Each variant is a copy of train()'s batch loop as it
was before commit 73044b4 (seeded permutation, a gather per batch, per-batch loss/accuracy
sums) with changes switched on one at a time; they run in short interleaved blocks, and
the median CPU microseconds per optimizer step is reported with the speedup over that loop
and the ratio the articles' DataLoader loop has against it. CPU time
(time.process_time) is used because this machine is shared: wall time includes waiting
for the core, CPU time mostly does not.

Variants (numbers in docs/benchmarks.md):
  before     the loop before 73044b4: optimizer.zero_grad(), X[batch] gathers, per-batch
             `loss_sum += loss * n` and `correct += (argmax == y).sum()`
  fused      optimizer built with fused=True (one kernel for all parameters)
  grad_none  `for p in params: p.grad = None` instead of optimizer.zero_grad()
  stash      keep loss.detach() and logits.detach() per batch, reduce once per epoch
  permute    X[order], y[order] once per epoch, then contiguous slices per batch
  combined   fused + grad_none + stash + permute (what 73044b4 put in mlcore/training.py)
  fstep      combined + the optimizer's functional form called directly
             (torch.optim.sgd.sgd / torch.optim.adam.adam on the optimizer's own state),
             skipping Optimizer.step's Python wrapper
  manual     combined + a hand-written backward for Linear/activation stacks with
             cross-entropy (no autograd graph; a prototype: no dropout, tanh/relu only)
  manual_fstep  manual + fstep
  autograd   mlcore.training.train through autograd (training.ENGINE = "autograd": the
             `combined` loop, as train() ran before the hand-written engine), a fresh run
             of the block's epochs each block
  mlcore     mlcore.training.train itself (mlcore.fast_engine for these networks), a
             fresh run of the block's epochs each block

--breakdown prints where a whole train() run's time goes instead, for both engines:
the autograd loop line by line (per-epoch shuffle and X[order] gather, slicing, forward,
loss, grads to None, backward, optimizer.step(), the per-batch appends, the per-epoch
reduction) and the hand-written engine by phase (setup, per-epoch shuffle, batches,
per-epoch loss and accuracy).

Run from the repository root:
  .venv/bin/python bench/train_variants.py --scenario small --blocks 15
  .venv/bin/python bench/train_variants.py --scenario large --blocks 7
  .venv/bin/python bench/train_variants.py --scenario small --full --blocks 3  # whole runs
  .venv/bin/python bench/train_variants.py --scenario large --breakdown
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.adam import adam as adam_functional
from torch.optim.sgd import sgd as sgd_functional
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import mlcore.training as training  # noqa: E402
from mlcore import fast_engine  # noqa: E402
from mlcore.model import build_model, loss_function  # noqa: E402
from mlcore.training import TrainConfig, TrainData, _predicted, make_optimizer, train  # noqa: E402
from train_speed import SCENARIOS, RowDataset, make_data  # noqa: E402

VARIANTS = {
    "before": {},
    "fused": dict(fused=True),
    "grad_none": dict(grad_none=True),
    "stash": dict(stash=True),
    "permute": dict(permute=True),
    "combined": dict(fused=True, grad_none=True, stash=True, permute=True),
    "fstep": dict(fused=True, grad_none=True, stash=True, permute=True, fstep=True),
    "manual": dict(fused=True, grad_none=True, stash=True, permute=True, manual=True),
    "manual_fstep": dict(fused=True, grad_none=True, stash=True, permute=True, manual=True,
                         fstep=True),
    "autograd": None,
    "mlcore": None,
}
ACT_FWD = {"tanh": torch.tanh, "relu": torch.relu}
ACT_BWD = {"tanh": lambda g, h: torch.ops.aten.tanh_backward(g, h),
           "relu": lambda g, h: torch.ops.aten.threshold_backward(g, h, 0)}


class Loop:
    """One variant's trainer state; epoch() runs one epoch and returns its step count."""

    def __init__(self, sc: dict, X, y, fused=False, grad_none=False, stash=False,
                 permute=False, manual=False, fstep=False) -> None:
        self.X, self.y, self.size = X, y, sc["opt"]["batch_size"]
        self.model = build_model(X.shape[1], sc["classes"], sc["model"], seed=1)
        self.params = list(self.model.parameters())
        opt = sc["opt"]
        extra = {"fused": True} if fused else {}
        if opt["optimizer"] == "sgd":
            self.optimizer = torch.optim.SGD(self.params, lr=opt["lr"],
                                             momentum=opt["momentum"], **extra)
        else:
            self.optimizer = torch.optim.Adam(self.params, lr=opt["lr"], **extra)
        self.grad_none, self.stash, self.permute, self.manual = grad_none, stash, permute, manual
        self.fstep, self.step_fn = fstep, None
        self.linears = [m for m in self.model if isinstance(m, torch.nn.Linear)]
        self.act = sc["model"].activation
        self.rng = torch.Generator().manual_seed(1)
        self.model.train()

    def epoch(self) -> int:
        X, y, size, n = self.X, self.y, self.size, len(self.X)
        order = torch.randperm(n, generator=self.rng)
        if self.permute:
            X, y = X[order], y[order]
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        losses, outputs = [], []
        steps = 0
        for i in range(0, n, size):
            if self.permute:
                xb, yb = X[i:i + size], y[i:i + size]
            else:
                batch = order[i:i + size]
                xb, yb = X[batch], y[batch]
            if self.manual:
                logits, loss = self.manual_grads(xb, yb)
            else:
                logits = self.model(xb)
                loss = loss_function(logits, yb)
                if self.grad_none:
                    for p in self.params:
                        p.grad = None
                else:
                    self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
            if self.step_fn is not None:
                self.step_fn()
            else:
                self.optimizer.step()
                if self.fstep:
                    self.step_fn = functional_step(self.optimizer)
            steps += 1
            if self.stash:
                losses.append(loss.detach())
                outputs.append(logits.detach())
            else:
                with torch.no_grad():
                    loss_sum += loss.detach() * len(xb)
                    correct += (logits.argmax(1) == yb).sum()
        if self.stash:
            sizes = torch.tensor([len(o) for o in outputs], dtype=torch.float32)
            labels = y if self.permute else y[order]
            self.loss = (torch.stack(losses) * sizes).sum().item() / n
            self.accuracy = (torch.cat(outputs).argmax(1) == labels).sum().item() / n
        else:
            self.loss, self.accuracy = loss_sum.item() / n, correct.item() / n
        return steps

    @torch.no_grad()
    def manual_grads(self, xb, yb):
        """Forward, cross-entropy, and hand-written gradients into p.grad."""
        layers, hs, h = self.linears, [xb], xb
        for k, lin in enumerate(layers):
            h = torch.addmm(lin.bias, h, lin.weight.t())
            if k < len(layers) - 1:
                h = ACT_FWD[self.act](h)
            hs.append(h)
        log_probs = torch.log_softmax(h, 1)
        loss = F.nll_loss(log_probs, yb)
        g = log_probs.exp()
        g[torch.arange(len(yb)), yb] -= 1
        g.div_(len(yb))
        for k in range(len(layers) - 1, -1, -1):
            lin = layers[k]
            lin.weight.grad = g.t().mm(hs[k])
            lin.bias.grad = g.sum(0)
            if k:
                g = ACT_BWD[self.act](g.mm(lin.weight), hs[k])
        return h, loss


def functional_step(optimizer: torch.optim.Optimizer):
    """A closure doing what optimizer.step() does for one param group, without the
    Optimizer.step wrapper: torch.optim.sgd.sgd / torch.optim.adam.adam on the optimizer's
    own state (call after one real step(), which creates the state). Same fused kernel,
    same state tensors, so the same numbers; hooks and per-step group changes are skipped."""
    group = optimizer.param_groups[0]
    params = group["params"]
    state = [optimizer.state[p] for p in params]
    if isinstance(optimizer, torch.optim.SGD):
        bufs = [s.get("momentum_buffer") for s in state]

        @torch.no_grad()
        def step():
            sgd_functional(params, [p.grad for p in params], bufs, fused=True,
                           weight_decay=group["weight_decay"], momentum=group["momentum"],
                           lr=group["lr"], dampening=group["dampening"],
                           nesterov=group["nesterov"], maximize=group["maximize"])
        return step
    exp_avg = [s["exp_avg"] for s in state]
    exp_avg_sq = [s["exp_avg_sq"] for s in state]
    steps = [s["step"] for s in state]
    beta1, beta2 = group["betas"]

    @torch.no_grad()
    def step():
        adam_functional(params, [p.grad for p in params], exp_avg, exp_avg_sq, [], steps,
                        fused=True, amsgrad=False, beta1=beta1, beta2=beta2,
                        lr=group["lr"], weight_decay=group["weight_decay"],
                        eps=group["eps"], maximize=group["maximize"])
    return step


class Mlcore:
    """mlcore.training.train, timed as a whole run of `epochs` epochs per block, with
    training.ENGINE set to `engine` ("auto": the hand-written engine; "autograd")."""

    def __init__(self, sc: dict, X, y, epochs: int, engine: str = "auto") -> None:
        self.sc, self.X, self.y, self.epochs, self.engine = sc, X, y, epochs, engine
        self.steps = epochs * -(-len(X) // sc["opt"]["batch_size"])

    def epoch(self) -> int:  # one call = the whole block
        sc = self.sc
        model = build_model(self.X.shape[1], sc["classes"], sc["model"], seed=1)
        config = TrainConfig(epochs=self.epochs, threads=1, device="cpu", **sc["opt"])
        training.ENGINE = self.engine
        try:
            self.loss = train(model, TrainData(self.X, self.y), config).last.train_loss
        finally:
            training.ENGINE = "auto"
        return self.steps


def breakdown(sc: dict, X, y, epochs: int, repeat: int = 3) -> None:
    """Print where a train() run's time goes, for both engines: wall seconds (the clock is
    read ~10 times a step, so CPU time's costlier clock would distort more), best run of
    `repeat`."""
    steps = epochs * -(-len(X) // sc["opt"]["batch_size"])

    def show(title: str, parts: dict[str, float]) -> None:
        total = sum(parts.values())
        print(f"{title}: {total:.3f} s, {total / steps * 1e6:.1f} us per step")
        for name, seconds in parts.items():
            print(f"  {name:<38} {seconds:8.4f} s {seconds / steps * 1e6:8.1f} us/step "
                  f"{100 * seconds / total:5.1f}%")

    best: dict[str, float] = {}
    for _ in range(repeat):  # the autograd loop of mlcore.training._Autograd, timed by line
        parts: dict[str, float] = {}

        def tick(name: str, since: float) -> float:
            now = time.perf_counter()
            parts[name] = parts.get(name, 0.0) + now - since
            return now

        model = build_model(X.shape[1], sc["classes"], sc["model"], seed=1)
        config = TrainConfig(epochs=epochs, threads=1, device="cpu", **sc["opt"])
        optimizer, params = make_optimizer(model, config), list(model.parameters())
        order_rng, size, n = torch.Generator().manual_seed(1), config.batch_size, len(X)
        model.train()
        for _ in range(epochs):
            t = time.perf_counter()
            order = torch.randperm(n, generator=order_rng)
            t = tick("randperm", t)
            X_epoch, y_epoch = X[order], y[order]
            t = tick("X[order], y[order] (per epoch)", t)
            losses, outputs = [], []
            for i in range(0, n, size):
                xb, yb = X_epoch[i:i + size], y_epoch[i:i + size]
                t = tick("slices", t)
                logits = model(xb)
                t = tick("forward", t)
                loss = loss_function(logits, yb)
                t = tick("loss", t)
                for p in params:
                    p.grad = None
                t = tick("grads to None", t)
                loss.backward()
                t = tick("backward", t)
                optimizer.step()
                t = tick("optimizer.step() (fused)", t)
                losses.append(loss.detach() * len(xb))
                outputs.append(logits.detach())
                t = tick("losses/outputs.append", t)
            torch.stack(losses).sum().item()
            (_predicted(torch.cat(outputs)) == y_epoch).sum().item()
            tick("per-epoch stack, cat, softmax, argmax", t)
        if not best or sum(parts.values()) < sum(best.values()):
            best = parts
    show(f"autograd engine, {steps} steps", best)

    best = {}
    names = {"__init__": "setup (buffers, flat parameters)", "shuffle": "shuffle (per epoch)",
             "run": "batches", "finish_epoch": "loss and accuracy (per epoch)"}
    originals = {name: getattr(fast_engine.Engine, name) for name in names}
    for _ in range(repeat):
        parts = {}

        def timed(name):
            def wrapper(*args, **kwargs):
                t = time.perf_counter()
                result = originals[name](*args, **kwargs)
                parts[names[name]] = parts.get(names[name], 0.0) + time.perf_counter() - t
                return result
            return wrapper

        for name in names:
            setattr(fast_engine.Engine, name, timed(name))
        try:
            model = build_model(X.shape[1], sc["classes"], sc["model"], seed=1)
            config = TrainConfig(epochs=epochs, threads=1, device="cpu", **sc["opt"])
            t = time.perf_counter()
            train(model, TrainData(X, y), config)
            parts["rest of train()"] = time.perf_counter() - t - sum(parts.values())
        finally:
            for name, original in originals.items():
                setattr(fast_engine.Engine, name, original)
        if not best or sum(parts.values()) < sum(best.values()):
            best = parts
    show(f"hand-written engine (mlcore.fast_engine), {steps} steps", best)


class Baseline:
    """The articles' per-item DataLoader loop (as in train_speed.run_baseline)."""

    def __init__(self, sc: dict, X, y) -> None:
        self.model = build_model(X.shape[1], sc["classes"], sc["model"], seed=1)
        opt = sc["opt"]
        if opt["optimizer"] == "sgd":
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=opt["lr"],
                                             momentum=opt["momentum"])
        else:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=opt["lr"])
        self.loader = DataLoader(RowDataset(X, y), batch_size=opt["batch_size"], shuffle=True)
        self.model.train()

    def epoch(self) -> int:
        steps, total = 0, 0.0
        for xb, yb in self.loader:
            self.optimizer.zero_grad()
            loss = loss_function(self.model(xb), yb)
            total += loss.item()
            loss.backward()
            self.optimizer.step()
            steps += 1
        self.loss = total / steps
        return steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", choices=("small", "large"), default="small")
    p.add_argument("--blocks", type=int, default=9, help="interleaved timing blocks")
    p.add_argument("--full", action="store_true",
                   help="each block is a whole train_speed run (all rows and epochs)")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="comma-separated subset of: " + ", ".join(VARIANTS))
    p.add_argument("--breakdown", action="store_true",
                   help="where a whole train() run's time goes, both engines (all rows)")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    sc = SCENARIOS[args.scenario]
    # large: a 40,000-row slice keeps blocks short; per-step cost does not depend on rows
    rows, epochs = (200, 10) if args.scenario == "small" else (40_000, 1)
    if args.full:
        rows, epochs = sc["rows"], sc["epochs"]
    X, y = make_data(sc["rows"], sc["features"], sc["classes"])
    if args.breakdown:
        train(build_model(X.shape[1], sc["classes"], sc["model"]), TrainData(X[:100], y[:100]),
              TrainConfig(epochs=1, device="cpu", **sc["opt"]))  # warm-up
        breakdown(sc, X, y, sc["epochs"])
        return
    X, y = X[:rows], y[:rows]
    names = args.variants.split(",")
    runners = {"baseline": Baseline(sc, X, y)}
    for k in names:
        runners[k] = Mlcore(sc, X, y, epochs, "auto" if k == "mlcore" else "autograd") \
            if VARIANTS[k] is None else Loop(sc, X, y, **VARIANTS[k])
    for r in runners.values():  # warm-up
        r.epoch()
    cpu = {k: [] for k in runners}
    wall = {k: [] for k in runners}
    totals = {k: [] for k in runners}
    for _ in range(args.blocks):
        for k, r in runners.items():
            t, c, steps = time.perf_counter(), time.process_time(), 0
            for _ in range(1 if isinstance(r, Mlcore) else epochs):
                steps += r.epoch()
            cpu[k].append((time.process_time() - c) / steps * 1e6)
            wall[k].append((time.perf_counter() - t) / steps * 1e6)
            totals[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"{args.scenario}: {sc['model'].describe(sc['features'], sc['classes'])}, "
          f"{sc['opt']['optimizer']}, batch {sc['opt']['batch_size']}; median of "
          f"{args.blocks} blocks of {steps} steps, 1 thread")
    print(f"{'variant':<12} {'cpu us/step':>12} {'wall us/step':>13} {'vs before':>11} "
          f"{'baseline/it':>12} {'wall s/block':>13} {'last loss':>10}")
    for k in runners:
        speedup = med["before"] / med[k] if "before" in med else float("nan")
        print(f"{k:<12} {med[k]:>12.1f} {statistics.median(wall[k]):>13.1f} "
              f"{speedup:>10.2f}x {med['baseline'] / med[k]:>11.2f}x "
              f"{statistics.median(totals[k]):>13.3f} {runners[k].loss:>10.4f}")


if __name__ == "__main__":
    main()
