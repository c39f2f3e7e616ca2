"""The After-ReLU lab, solved: the single source of labs/06_after_relu_lab.ipynb and of its
references.

Edit this file, not the notebook, then run ``python -m relucourse.labs.build`` from the repository
root. Format and markers: ``relucourse.labs.source``.
"""


# %% [markdown]
# # Lab: SELU by hand, and its self-normalisation
#
# In the chapter [After ReLU](../chapters/06_after_relu) we measured the modern family and watched
# SELU's per-layer statistics settle at mean 0 and variance 1. Here you build SELU yourself, the way
# a custom operation is added to PyTorch:
#
# 1. write its forward pass from the formula;
# 2. write its backward pass by hand, and wrap both in a `torch.autograd.Function`;
# 3. check the backward pass against finite differences with `torch.autograd.gradcheck`;
# 4. measure self-normalisation through 40 layers with your SELU, and break it.
#
# Each exercise cell starts as a stub marked `# YOUR CODE`: a function whose body is
# `raise NotImplementedError`, or a value left as `...`. Write your answer there and rerun the cell;
# its checker says whether the answer passes (an `[ok]` line), and if not, why. Until you write it,
# the cell prints a `[skipped]` line, checks the course's reference solution instead and the rest of
# the lab uses that, so the page still runs from top to bottom. Solutions are hidden under
# **Solution**.

# %%
import math  # noqa: F401  (for your formulas)

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import relucourse as rc
from relucourse.labs.checks import after_relu as checks
from relucourse.theory import after_relu as ar

rt = rc.setup(seed=0)
# references for exercises not written yet
lab = rc.labs.exercise.Lab("06_after_relu_lab", globals())
# Klambauer et al. (2017), eq. 14, in closed form
ALPHA, LAMBDA = ar.SELU_ALPHA, ar.SELU_LAMBDA
print(f"alpha = {ALPHA:.10f}, lambda = {LAMBDA:.10f}")


# %% [markdown]
# ## Exercise 1: the forward pass
#
# $$\operatorname{selu}(x) = \lambda \begin{cases} x & x > 0 \\ \alpha\,(e^x - 1) & x \le 0
# \end{cases}$$
#
# Write `selu_forward(x)` with elementwise torch operations, using `ALPHA` and `LAMBDA` above (not
# `F.selu`). The checker compares it with `F.selu` on 807 points in float32 and float64, including
# $x = \pm 1000$. Careful: `torch.where(cond, a, b)` computes *both* `a` and `b` everywhere, so an
# `exp(x)` in the negative branch still overflows at $x = 1000$.


# %%
def selu_forward(x: torch.Tensor) -> torch.Tensor:
    """lambda * x for x > 0, lambda * alpha * (e^x - 1) otherwise, elementwise."""
    ### BEGIN SOLUTION
    negative = ALPHA * torch.expm1(torch.clamp(x, max=0))  # exp only ever sees x <= 0
    return LAMBDA * torch.where(x > 0, x, negative)
    ### END SOLUTION


selu_forward = lab.checked("selu_forward", selu_forward, checks.check_selu_forward)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# Clamping before the exponential keeps the discarded branch finite, so nothing can turn into
# `inf - inf` or `inf * 0` (both `nan`). `torch.expm1(t)` computes $e^t - 1$ accurately for tiny
# $t$, where `torch.exp(t) - 1` loses digits.


# %% [markdown]
# ## Exercise 2: the backward pass, by hand
#
# A `torch.autograd.Function` defines a forward pass and a backward pass. The backward pass
# receives `grad_out` $= \partial L/\partial y$ for the output $y = \operatorname{selu}(x)$ and
# must return $\partial L/\partial x = \text{grad\_out} \cdot \operatorname{selu}'(x)$ (the chain
# rule, elementwise):
#
# $$\operatorname{selu}'(x) = \begin{cases} \lambda & x > 0 \\ \lambda\alpha\, e^x & x \le 0
# \end{cases}$$
#
# Write `selu_backward(x, grad_out)`. The cell after it wires your two functions into a `Function`;
# read it: `ctx.save_for_backward` keeps the input for the backward pass.


# %%
def selu_backward(x: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    """grad_out * selu'(x): lambda for x > 0, lambda * alpha * e^x otherwise."""
    ### BEGIN SOLUTION
    slope = torch.where(
        x > 0, LAMBDA, LAMBDA * ALPHA * torch.exp(torch.clamp(x, max=0))
    )
    return grad_out * slope
    ### END SOLUTION


selu_backward = lab.checked("selu_backward", selu_backward, checks.check_selu_backward)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# Two common slips, both caught: returning the slope without multiplying by `grad_out` (the
# function then only works when it is the last operation before `.sum()`), and differentiating
# $\alpha(e^x - 1)$ to $\alpha(e^x - 1)$ instead of $\alpha e^x$. At the kink $x = 0$ the function
# has no derivative; any value between the two one-sided slopes is a valid subgradient, and
# PyTorch's own SELU uses the left one, $\lambda\alpha$.


# %%
class SELUFunction(torch.autograd.Function):
    """SELU with your forward and your hand-written backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)  # what backward will need
        return selu_forward(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return selu_backward(x, grad_out)


my_selu = SELUFunction.apply
x = torch.linspace(-3, 3, 7, dtype=torch.float64, requires_grad=True)
(my_selu(x) * torch.arange(7.0, dtype=torch.float64)).sum().backward()
print("your gradient:   ", x.grad.numpy().round(4))
xr = x.detach().clone().requires_grad_(True)
(F.selu(xr) * torch.arange(7.0, dtype=torch.float64)).sum().backward()
print("autograd, F.selu:", xr.grad.numpy().round(4))
assert torch.allclose(x.grad, xr.grad)


# %% [markdown]
# ## Exercise 3: check it with `gradcheck`
#
# Comparing with PyTorch's SELU only works because PyTorch has one. For an operation of your own,
# `torch.autograd.gradcheck(fn, (x,))` compares your backward pass with finite differences of your
# forward pass, $(f(x + \epsilon) - f(x - \epsilon)) / 2\epsilon$, entry by entry. Write
# `passes_gradcheck(apply)` that runs it on a SELU `Function`'s `apply` and returns `True` or
# `False`. Three things matter: float64 inputs with `requires_grad=True` (in float32 the finite
# differences are too coarse to pass), points that include negative values but stay away from the
# kink at 0, and `raise_exception=False` (by default a failure raises). The checker runs your
# function on a correct SELU and on one whose backward is wrong.


# %%
def passes_gradcheck(apply) -> bool:
    """True if torch.autograd.gradcheck accepts apply's backward on float64 points away
    from 0."""
    ### BEGIN SOLUTION
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, generator=gen, dtype=torch.float64) * 2
    x = torch.where(x.abs() < 0.1, x.sign() * 0.1 + x, x)  # keep 0.1 away from the kink
    x.requires_grad_(True)
    return torch.autograd.gradcheck(
        apply, (x,), eps=1e-6, atol=1e-6, raise_exception=False
    )
    ### END SOLUTION


passes_gradcheck = lab.checked(
    "passes_gradcheck", passes_gradcheck, checks.check_passes_gradcheck
)
print("your SELUFunction passes gradcheck:", passes_gradcheck(my_selu))
assert passes_gradcheck(my_selu)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# `eps=1e-6` is gradcheck's default; with float64 the finite-difference error is around
# $10^{-10}$, far below `atol`. Near $x = 0$ a central difference straddles the kink and averages
# the two slopes, which matches neither side, so a point too close to 0 can fail a correct
# backward.


# %% [markdown]
# ## Exercise 4: self-normalisation, measured
#
# Write `layer_moments(act, depth, width=128, weight_scale2=1.0, dropout=None, n=1024, seed=0)`:
# seed torch with `seed`, draw a batch $x \sim \mathcal N(0, 1)$ of shape `(n, width)`, then
# `depth` times draw $W \sim \mathcal N(0, \text{weight\_scale2}/\text{width})$ of shape
# `(width, width)`, set $x \leftarrow \text{act}(x W^\top)$ (no bias), apply `dropout(x)` if a
# dropout module is given, and record `(x.mean().item(), x.var().item())`. Return the list of
# `depth` pairs. With `weight_scale2=1` the weights are LeCun normal ($n\operatorname{Var}[W] =
# 1$), the setting of Klambauer et al.'s theorem. Work under `torch.no_grad()`.


# %%
def layer_moments(
    act,
    depth: int,
    width: int = 128,
    weight_scale2: float = 1.0,
    dropout=None,
    n: int = 1024,
    seed: int = 0,
) -> list:
    """(mean, variance) of the activations after each of depth zero-bias layers."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    x = torch.randn(n, width)
    moments = []
    with torch.no_grad():
        for _ in range(depth):
            w = torch.randn(width, width) * math.sqrt(weight_scale2 / width)
            x = act(x @ w.T)
            if dropout is not None:
                x = dropout(x)
            moments.append((x.mean().item(), x.var().item()))
    return moments
    ### END SOLUTION


layer_moments = lab.checked("layer_moments", layer_moments, checks.check_moments)


# %% [markdown]
# Now run it with **your** SELU in four settings: LeCun normal; LeCun with AlphaDropout (rate
# 0.1); He's ReLU initialisation ($n\operatorname{Var}[W] = 2$); and LeCun with ordinary dropout.


# %%
DEPTH = 40
moments = {
    "lecun": layer_moments(my_selu, DEPTH),
    "alpha": layer_moments(my_selu, DEPTH, dropout=torch.nn.AlphaDropout(0.1)),
    "he": layer_moments(my_selu, DEPTH, weight_scale2=2.0),
    "dropout": layer_moments(my_selu, DEPTH, dropout=torch.nn.Dropout(0.1)),
}
names = {
    "lecun": "LeCun normal",
    "alpha": "LeCun + AlphaDropout(0.1)",
    "he": r"He's ReLU init, $n\,\mathrm{Var}[W] = 2$",
    "dropout": "LeCun + Dropout(0.1)",
}
fig, (ax_m, ax_v) = rc.plots.panels(2)
layers = np.arange(1, DEPTH + 1)
for i, (key, pairs) in enumerate(moments.items()):
    style = dict(
        color=rc.plots.OKABE_ITO[i], linestyle=rc.plots.LINESTYLES[i], label=names[key]
    )
    ax_m.plot(layers, [m for m, _ in pairs], **style)
    ax_v.plot(layers, [v for _, v in pairs], **style)
ax_v.set_yscale("log")
ax_m.set_ylim(-0.5, 1.5)
rc.plots.finish(ax_m, "Mean after each layer (your SELU, seed 0)", "layer", "mean")
rc.plots.finish(
    ax_v, "Variance after each layer (your SELU, seed 0)", "layer", "variance (log)"
)
plt.show()
checks.check_self_normalisation(moments)


# %% [markdown]
# **What you should see.** The chapter explains the four curves: the fixed point $(0, 1)$ is
# stable for LeCun-normal weights; AlphaDropout sets dropped units to $-\lambda\alpha$ and
# corrects mean and variance affinely, so it keeps the fixed point; doubling
# $n\operatorname{Var}[W]$ removes it; ordinary dropout's $1/(1-p)$ rescaling of the survivors
# raises the variance, and the statistics settle elsewhere. Try other starting points:
# `x = 3 * torch.randn(...) + 1` converges to the same $(0, 1)$ within a few layers.


# %% [markdown]
# ## Explore: what keeps it normalised?
#
# Change the weight scale $n\operatorname{Var}[W]$, the dropout kind and rate, and the activation.
# On the static site this shows a grid of precomputed settings; open the page in Colab or
# JupyterLab to move the controls freely.


# %%
def draw(weight_scale2=1.0, dropout="alpha", rate=0.1, activation="selu"):
    act = my_selu if activation == "selu" else rc.activations.get_activation(activation)
    module = {
        "none": None,
        "alpha": torch.nn.AlphaDropout(rate),
        "standard": torch.nn.Dropout(rate),
    }[dropout]
    pairs = layer_moments(act, 30, weight_scale2=weight_scale2, dropout=module, n=512)
    fig, (ax_m, ax_v) = rc.plots.panels(2)
    style = dict(marker="o", markersize=3, color=rc.plots.color_for(activation))
    ax_m.plot(range(1, 31), [m for m, _ in pairs], **style)
    ax_v.plot(range(1, 31), [v for _, v in pairs], **style)
    ax_v.axhline(1, color="gray", linewidth=1)
    ax_v.set_yscale("log")
    rc.plots.finish(ax_m, "Mean per layer", "layer", "mean")
    rc.plots.finish(ax_v, "Variance per layer", "layer", "variance (log)")
    fig.suptitle(
        rf"{activation}, $n\,\mathrm{{Var}}[W] = {weight_scale2:g}$, "
        f"{dropout} dropout {rate:g} (seed 0)"
    )
    plt.show()


# The sliders start in the middle of their ranges: n Var[W] = 1 (LeCun) and a rate
# of 0.1.
rc.book.explorer.explore(
    draw,
    weight_scale2=(0.25, 1.75, 0.25),
    dropout=["alpha", "none", "standard"],
    rate=(0.0, 0.2, 0.05),
    activation=["selu", "elu", "gelu", "relu"],
)


# %% [markdown]
# Things to try:
#
# * **weight scale**: how far from 1 can $n\operatorname{Var}[W]$ go before the variance no longer
#   settles? Is it symmetric above and below 1?
# * **dropout rate**: with AlphaDropout, does the fixed point survive at rate 0.3? With ordinary
#   dropout, how does the settled variance depend on the rate?
# * **ELU, GELU, ReLU** with the same LeCun weights: which one keeps a fixed variance at all, and
#   which of them keeps the *mean* at 0?
