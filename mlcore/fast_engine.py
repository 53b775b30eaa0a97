"""The trainer's hand-written engine: forward, backward and optimizer step for the networks
build_model makes, without autograd (mlcore.training.train picks it; see docs/benchmarks.md,
"Training speed").

It applies to an nn.Sequential of Linear layers with the six activations of mlcore.model
(default settings) and mlcore's Dropout, ending in a softmax (cross-entropy) or one-logit
sigmoid (BCE) head, trained on the CPU by make_optimizer's fused SGD, Adam or AdamW; and to
an ensemble of K such stacks (mlcore.ensemble.EnsembleMLP), where every buffer and block
below gets the member count as its first dimension: every layer's K products are one
`bmm` (the first layer's over the shared rows expanded K times without a copy; one stacked
`mm` of [K*units, in+1] was slower, docs/benchmarks.md), and each member's loss gradient is
its own (softmax - onehot) / rows. For one train() call it

- keeps each layer's input feature-major (units x rows) with a row of ones under it, in
  buffers allocated once per batch size (the shuffled rows get a column of ones), so a
  layer's forward is one matrix product with its [W | b] block and its weight gradient one
  product that gives the bias gradient too: a batch is ~15 kernels and no autograd graph;
- moves all weights and biases into one flat tensor of such blocks (the Parameters become
  views of it, their .grad views of a flat gradient tensor, the optimizer's state views of
  flat state tensors), so the optimizer's fused kernel runs once per batch on one tensor;
  `release()` gives the Parameters their own storage back;
- takes the epoch's mean loss and accuracy from one logits buffer filled batch by batch.

The gradients are autograd's (same formulas, equal to float rounding, ~1e-7), so a run
reaches the same results as through autograd, not the same bits; it is deterministic, and a
resumed run (same engine) is bit-identical to an unbroken one.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from .decision import decide
from .ensemble import EnsembleLinear, EnsembleMLP, combine_logits
from .model import Dropout, to_probabilities

GROUP_ROWS = 16_384     # at most this many rows per run() call (stop/progress checks) ...
GROUP_FLOPS = 2e9       # ... and about this much arithmetic
_aten = torch.ops.aten

# activation type: (forward(pre, out, slope): in place on the pre-activation, or into out;
#                   backward(d, saved, slope): into d, from the output or the pre-activation;
#                   whether it runs in place, so out *is* pre and saved is the output)
# An ensemble's layer outputs sit above a ones row per member, so they are not one
# contiguous block, and bmm into such a view costs ~7x a plain one (it goes through a copy):
# its products write into a contiguous pre-activation and the in-place three write their
# output out of place when `out` is not `pre` (their backward still reads the output).
_ACTIVATIONS = {
    nn.ReLU: (lambda pre, out, slope: torch.relu_(pre) if out is pre else
              torch.clamp_min(pre, 0.0, out=out),
              lambda d, saved, slope: _aten.threshold_backward.grad_input(
                  d, saved, 0.0, grad_input=d), True),
    nn.Tanh: (lambda pre, out, slope: torch.tanh_(pre) if out is pre else
              torch.tanh(pre, out=out),
              lambda d, saved, slope: _aten.tanh_backward.grad_input(d, saved, grad_input=d),
              True),
    nn.Sigmoid: (lambda pre, out, slope: torch.sigmoid_(pre) if out is pre else
                 torch.sigmoid(pre, out=out),
                 lambda d, saved, slope: _aten.sigmoid_backward.grad_input(
                     d, saved, grad_input=d), True),
    nn.GELU: (lambda pre, out, slope: _gelu(pre, out),
              lambda d, saved, slope: _aten.gelu_backward.grad_input(
                  d, saved, approximate="none", grad_input=d), False),
    nn.SiLU: (lambda pre, out, slope: _aten.silu.out(pre, out=out),
              lambda d, saved, slope: _aten.silu_backward.grad_input(d, saved, grad_input=d),
              False),
    nn.LeakyReLU: (lambda pre, out, slope: _aten.leaky_relu.out(pre, slope, out=out),
                   lambda d, saved, slope: _aten.leaky_relu_backward.grad_input(
                       d, saved, slope, False, grad_input=d), False),
}


def _gelu(pre: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Exact GELU of `pre` into `out`; gelu.out writes a non-contiguous `out` (an
    ensemble's [K, units, rows] above its ones rows) wrongly in torch 2.13, so that one
    goes through a copy."""
    if out.is_contiguous():
        return _aten.gelu.out(pre, approximate="none", out=out)
    return out.copy_(_aten.gelu(pre, approximate="none"))


class Engine:
    """The engine for one train() call: shuffle(order) starts an epoch, run(first, last)
    trains on its batches first..last-1, finish_epoch() gives the epoch's loss and accuracy,
    release() (after training) gives the Parameters their own storage back."""

    @classmethod
    def build(cls, model: nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor,
              y: torch.Tensor, size: int, generator: torch.Generator) -> Engine | None:
        """The engine, or None for a model, data, device or optimizer it does not handle."""
        stack, step = read_stack(model), read_optimizer(optimizer)
        if stack is None or step is None or X.device.type != "cpu" or X.ndim != 2 \
                or len(X) == 0 or y.dtype != torch.long or y.shape != (len(X),):
            return None
        first = stack[0][0]
        if X.dtype != first.weight.dtype or X.shape[1] != first.in_features:
            return None
        return cls(optimizer, X, y, size, generator, stack, step)

    def __init__(self, optimizer, X, y, size, generator, stack, step) -> None:
        linears, activations, self.keeps = stack
        self.members = getattr(linears[0], "members", 0)  # 0: a plain MLP, no member dim
        self.matmul = torch.bmm if self.members else torch.mm
        self.kind, self.settings = step
        self.optimizer, self.generator = optimizer, generator
        self.X, self.y, self.n, self.size = X, y, len(X), size
        self.params = [p for layer in linears for p in (layer.weight, layer.bias)]
        self._flatten(linears)
        self._bind_state()
        n, outputs, dtype = self.n, linears[-1].out_features, X.dtype
        self.outputs, self.batches = outputs, -(-n // size)
        self.tail = n - (self.batches - 1) * size
        self.head = (lambda z: torch.softmax(z, -2)) if outputs > 1 else torch.sigmoid
        # the shuffled rows with a ones column; targets (-onehot or -y over the batch size)
        # and logits batch after batch, each batch's (outputs x rows) contiguous; the last
        # batch's unused columns stay zero
        self.X_epoch = torch.empty(n, X.shape[1] + 1, dtype=dtype)
        self.X_epoch[:, -1] = 1.0
        self.y_epoch = torch.zeros(self.batches * size, dtype=y.dtype)
        self.targets = torch.zeros(self.batches, outputs, size, dtype=dtype)
        members = (self.members,) if self.members else ()
        self.logits = torch.zeros(self.batches, *members, outputs, size, dtype=dtype)
        flops = 6 * self.flat.numel() * size
        self.group = max(1, min(GROUP_ROWS // size, int(GROUP_FLOPS // flops)))
        rows = [size] * (self.batches - 1) + [self.tail]
        sizes = {r: self._layers(linears, activations, r, dtype) for r in set(rows)}
        targets, logits = list(self.targets.unbind()), list(self.logits.unbind())
        targets[-1], logits[-1] = targets[-1][:, :self.tail], logits[-1][..., :self.tail]
        self.work = [(*self._shared(x), t, z, 1.0 / r, *sizes[r], [s])
                     for x, t, z, s, r in zip(self.X_epoch.split(size), targets, logits,
                                              self.step_values.unbind(), rows)]

    def _shared(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch's rows [rows, in+1] and their transpose, as every member sees them (an
        ensemble's expanded over the members, without a copy)."""
        if not self.members:
            return x, x.t()
        k = self.members
        return x.expand(k, *x.shape), x.t().expand(k, *x.t().shape)

    def _flatten(self, linears: list[nn.Linear]) -> None:
        """Each Linear's weight and bias as one [W | b] block of a flat tensor (the
        Parameters become views of it), their gradients the same blocks of another."""
        first = linears[0].weight
        self.flat = torch.empty(sum(p.numel() for p in self.params), dtype=first.dtype)
        self.grad = torch.zeros_like(self.flat)
        self.blocks, self.grad_blocks = self._blocks(self.flat), self._blocks(self.grad)
        with torch.no_grad():
            for layer, block, grad in zip(linears, self.blocks, self.grad_blocks):
                block[..., :-1].copy_(layer.weight)
                block[..., -1].copy_(layer.bias)
                layer.weight.data, layer.bias.data = block[..., :-1], block[..., -1]
                layer.weight.grad, layer.bias.grad = grad[..., :-1], grad[..., -1]

    def _blocks(self, values: torch.Tensor) -> list[torch.Tensor]:
        """The [W | b] blocks of a flat tensor, one per Linear ([K, out, in+1] for an
        ensemble's)."""
        blocks, start = [], 0
        for weight in self.params[::2]:
            shape = (*weight.shape[:-1], weight.shape[-1] + 1)
            size = math.prod(shape)
            blocks.append(values[start:start + size].view(shape))
            start += size
        return blocks

    def _bind_state(self) -> None:
        """The optimizer's state as views of flat tensors laid out like `flat`: values from
        a loaded checkpoint copied in, fresh state made as optimizer.step() makes it."""
        state = self.optimizer.state
        momentum = self.kind == "sgd" and self.settings["momentum"] != 0.0
        names = ["momentum_buffer"] if momentum else [] if self.kind == "sgd" else \
            ["exp_avg", "exp_avg_sq"]
        self.first_step = momentum and not all("momentum_buffer" in state.get(p, {})
                                                for p in self.params)
        self.steps_done = 0
        if self.kind != "sgd":
            for p in self.params:
                if "step" not in state[p]:  # as the fused torch.optim.Adam keeps it
                    state[p]["step"] = torch.zeros((), dtype=torch.float32)
            self.steps_done = int(state[self.params[0]]["step"].item())
        self.state = []
        for name in names:
            values = torch.zeros_like(self.flat)
            for weight, bias, block in zip(self.params[::2], self.params[1::2],
                                           self._blocks(values)):
                for param, view in ((weight, block[..., :-1]), (bias, block[..., -1])):
                    if name in state[param]:
                        view.copy_(state[param][name])
                    state[param][name] = view
            self.state.append(values)
        self.step_values = torch.zeros(-(-self.n // self.size), dtype=torch.float32)

    def _layers(self, linears, activations, rows: int, dtype) -> tuple:
        """One batch size's buffers: the output gradient and a tuple per hidden layer."""
        members = (self.members,) if self.members else ()

        def new(units: int) -> torch.Tensor:
            return torch.empty(*members, units, rows, dtype=dtype)

        def with_ones(units: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            full = torch.ones(*members, units + 1, rows, dtype=dtype)
            return full[..., :-1, :], full, full.transpose(-1, -2)

        hidden = []
        for j, ((forward, backward, in_place, slope), keep) in enumerate(
                zip(activations, self.keeps)):
            units = linears[j].out_features
            out, out_ones, out_ones_t = with_ones(units)
            pre = out if in_place and not self.members else new(units)
            saved = out if in_place else pre  # what the backward reads
            if keep < 1.0:  # mask, dropped output, with its ones row, transposed
                mask, (dropped, ones, ones_t) = new(units), with_ones(units)
            else:
                mask, dropped, ones, ones_t = None, None, out_ones, out_ones_t
            hidden.append((self.blocks[j], linears[j + 1].weight.transpose(-1, -2),
                           self.grad_blocks[j + 1], forward, backward, slope, keep, pre, out,
                           mask, dropped, ones, ones_t, new(units), saved))
        return new(linears[-1].out_features), tuple(hidden)

    def shuffle(self, order: torch.Tensor) -> None:
        """Start an epoch: its rows in `order` and their targets."""
        torch.index_select(self.X, 0, order, out=self.X_epoch[:, :-1])
        torch.index_select(self.y, 0, order, out=self.y_epoch[:self.n])
        rows = self.y_epoch.view(self.batches, 1, self.size)  # the tail padded with 0
        if self.outputs > 1:
            self.targets.zero_().scatter_(1, rows, -1.0 / self.size)
        else:
            torch.mul(rows, -1.0 / self.size, out=self.targets)
        if self.tail != self.size:
            self.targets[-1] *= self.size / self.tail
        if self.kind != "sgd":  # Adam's step count for each batch of this epoch
            torch.arange(self.steps_done + 1, self.steps_done + 1 + self.batches,
                         out=self.step_values)

    def run(self, first: int, last: int) -> None:
        """Train on this epoch's batches first..last-1: per batch, forward, backward and
        the optimizer's fused kernel over the flat parameters."""
        mm, add, head, generator = self.matmul, torch.add, self.head, self.generator
        last_block, first_grad = self.blocks[-1], self.grad_blocks[0]
        step = self.optimizer_step
        with torch.no_grad():
            for x, x_t, targets, logits, inv, g_out, hidden, steps in self.work[first:last]:
                inputs = x_t
                for (block, _, _, forward, _, slope, keep, pre, out, mask, dropped, ones,
                     _, _, _) in hidden:
                    mm(block, inputs, out=pre)
                    forward(pre, out, slope)
                    if keep < 1.0:
                        mask.bernoulli_(keep, generator=generator).div_(keep)
                        torch.mul(out, mask, out=dropped)
                    inputs = ones
                g = add(targets, head(mm(last_block, inputs, out=logits)), alpha=inv,
                        out=g_out)
                for (_, weight_t, grad_block, _, backward, slope, keep, _, _, mask, _,
                     _, ones_t, d, saved) in reversed(hidden):
                    mm(g, ones_t, out=grad_block)         # [dW | db] of the layer above
                    mm(weight_t, g, out=d)
                    if keep < 1.0:
                        d.mul_(mask)
                    g = backward(d, saved, slope)
                mm(g, x, out=first_grad)
                step(steps)

    @functools.cached_property
    def optimizer_step(self):
        """fn(steps) applying the optimizer's fused kernel to the flat parameters."""
        flat, grad, settings = [self.flat], [self.grad], self.settings
        if self.kind == "sgd":
            def sgd(steps):
                torch._fused_sgd_(flat, grad, self.state, **settings,
                                  is_first_step=self.first_step)
                self.first_step = False
            return sgd
        kernel = torch._fused_adam_ if self.kind == "adam" else torch._fused_adamw_
        state = self.state
        return lambda steps: kernel(flat, grad, state[0:1], state[1:2], [], steps,
                                    **settings)

    def finish_epoch(self) -> tuple[float, float]:
        """The epoch's mean training loss and accuracy (an ensemble's: of its mean
        probabilities), from the logits each batch had before its step; Adam's step count
        written back to the optimizer's state."""
        if self.kind != "sgd":
            self.steps_done += self.batches
            for p in self.params:
                self.optimizer.state[p]["step"].fill_(float(self.steps_done))
        n, logits, y = self.n, self.logits, self.y_epoch
        with torch.no_grad():
            if self.members:  # the ensemble's prediction: the mean member probability
                logits = combine_logits(logits, members=1, classes=2)
            if self.outputs > 1:
                log_p = torch.log_softmax(logits, 1)
                picked = log_p.gather(1, y.view(self.batches, 1, -1)).view(-1)[:n]
                loss = -picked.sum().item() / n
                predicted = predicted_classes(log_p.exp_()).view(-1)[:n]
            else:
                loss = nn.functional.binary_cross_entropy_with_logits(
                    logits.view(-1)[:n], y[:n].to(logits.dtype), reduction="sum").item() / n
                predicted = decide(to_probabilities(logits.view(-1, 1)[:n]))
            accuracy = (predicted == y[:n]).sum().item() / n
        return loss, accuracy

    def release(self) -> None:
        """Give each Parameter (and its gradient) its own contiguous storage again."""
        with torch.no_grad():
            for p in self.params:
                p.data = p.data.clone(memory_format=torch.contiguous_format)
                p.grad = p.grad.clone(memory_format=torch.contiguous_format)


def predicted_classes(probabilities: torch.Tensor) -> torch.Tensor:
    """decide() for probabilities laid out [batches, classes, rows] -> [batches, rows],
    without a transposed copy and an argmax over a short last dimension (both slow): two
    classes by decide itself, more by the first most probable class, as argmax picks it."""
    batches, classes, rows = probabilities.shape
    if classes <= 2:
        return decide(probabilities.transpose(1, 2).reshape(-1, classes)).view(batches, rows)
    rank = torch.arange(classes, 0, -1, dtype=torch.uint8 if classes < 256 else torch.int32)
    top = probabilities == probabilities.amax(1, keepdim=True)
    return classes - (top * rank.view(1, -1, 1)).amax(1).long()  # first class ranks highest


def read_stack(model: nn.Module):
    """(linears, [(forward, backward, in place, slope)] per activation, dropout keep
    fractions) when `model` is Linear, (activation, [Dropout],)* ... Linear with its own
    trainable float parameters and no hooks (or an EnsembleMLP whose body is that of
    EnsembleLinear layers), else None."""
    if type(model) is EnsembleMLP:
        body, kind = model.body, EnsembleLinear
    else:
        body, kind = model, nn.Linear
    if type(body) is not nn.Sequential:
        return None
    linears, activations, keeps = [], [], []
    layers, i = list(body), 0
    while i < len(layers):
        linear = layers[i]
        if type(linear) is not kind or linear.bias is None:
            return None
        linears.append(linear)
        i += 1
        if i == len(layers):
            break
        act = layers[i]
        if type(act) not in _ACTIVATIONS or getattr(act, "inplace", False) or \
                getattr(act, "approximate", "none") != "none":
            return None
        activations.append((*_ACTIVATIONS[type(act)], float(getattr(act, "negative_slope", 0.0))))
        i += 1
        keep = 1.0
        if i < len(layers) and type(layers[i]) is Dropout:
            keep = 1.0 - layers[i].p
            i += 1
        keeps.append(keep)
    params = [p for layer in linears for p in (layer.weight, layer.bias)]
    hooks = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    if len(activations) != len(linears) - 1 or len({id(p) for p in params}) != len(params) \
            or any(getattr(m, name, None) for m in model.modules() for name in hooks) \
            or any(not p.requires_grad or not p.is_floating_point()
                   or p.dtype != params[0].dtype or p.device.type != "cpu" for p in params):
        return None
    return linears, activations, keeps


def read_optimizer(optimizer: torch.optim.Optimizer):
    """("sgd" | "adam" | "adamw", the fused kernel's settings) for make_optimizer's fused
    SGD, Adam or AdamW (one group, no amsgrad/maximize), else None."""
    if len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    if not group.get("fused") or group.get("maximize") or group.get("differentiable") or \
            group.get("capturable") or group.get("amsgrad") or \
            any(torch.is_tensor(v) for v in group.values()):
        return None
    if isinstance(optimizer, torch.optim.SGD):
        return "sgd", dict(lr=group["lr"], weight_decay=group["weight_decay"],
                           momentum=group["momentum"], dampening=group["dampening"],
                           nesterov=group["nesterov"], maximize=False)
    if isinstance(optimizer, torch.optim.Adam):
        beta1, beta2 = group["betas"]
        return ("adamw" if group.get("decoupled_weight_decay") else "adam"), dict(
            lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
            eps=group["eps"], amsgrad=False, maximize=False)
    return None
