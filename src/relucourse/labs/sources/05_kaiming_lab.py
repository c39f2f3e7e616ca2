"""The Kaiming lab, solved: the single source of labs/05_kaiming_lab.ipynb and of its references.

Edit this file, not the notebook, then run ``python -m relucourse.labs.build`` from the repository
root. Format and markers: ``relucourse.labs.source``.
"""


# %% [markdown]
# # Lab: Kaiming initialization
#
# In the chapter [Kaiming initialization](../chapters/05_kaiming_init) we derived
# $\operatorname{Var}[w] = 2/\text{fan\_in}$ for ReLU networks and watched it decide whether a deep
# network trains. Here you rebuild it yourself:
#
# 1. measure the factor $E[\mathrm{relu}(y)^2]/\operatorname{Var}[y]$ that the derivation rests on;
# 2. write `kaiming_init_(layer)` for a `torch.nn.Linear`;
# 3. verify numerically that it keeps the signal's second moment flat through a deep stack, where
#    $\operatorname{Var}[w] = 1/n$ halves it at every layer;
# 4. reproduce the deep-network stall with PyTorch's default init, and fix it with your init.
#
# Each exercise cell starts as a stub marked `# YOUR CODE`: a function whose body is
# `raise NotImplementedError`, or a value left as `...`. Write your answer there and rerun the cell;
# its checker says whether the answer passes (an `[ok]` line), and if not, why. Until you write it,
# the cell prints a `[skipped]` line, checks the course's reference solution instead and the rest of
# the lab uses that, so the page still runs from top to bottom. Solutions are hidden under
# **Solution**.

# %%
import dataclasses
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import relucourse as rc
from relucourse.labs.checks import kaiming as checks
from relucourse.theory import kaiming as var

rt = rc.setup(seed=0)
# references for exercises not written yet
lab = rc.labs.exercise.Lab("05_kaiming_lab", globals())


# %% [markdown]
# ## Exercise 1: the factor one half
#
# The derivation needs $E[x^2]$ for $x = \max(0, y)$, where $y$ is symmetric around zero (zero-mean
# symmetric weights, zero bias). Estimate $E[\mathrm{relu}(y)^2] / \operatorname{Var}[y]$ by sampling
# many $y \sim \mathcal N(0, s^2)$ and store it in `relu_factor`; try a few values of $s$. Then
# explain the answer in one sentence.


# %%
### BEGIN SOLUTION: sample many y ~ N(0, s^2) and estimate E[relu(y)^2] / Var[y]
g = torch.Generator().manual_seed(0)
y = 2.5 * torch.randn(1_000_000, generator=g)
relu_factor = (torch.relu(y).pow(2).mean() / y.var()).item()
### END SOLUTION

relu_factor = lab.checked("relu_factor", relu_factor, checks.check_relu_factor)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# $E[\mathrm{relu}(y)^2] = \int_0^\infty y^2 p(y)\,dy$, and because $p$ is symmetric this is exactly
# half of $\int_{-\infty}^{\infty} y^2 p(y)\,dy = E[y^2] = \operatorname{Var}[y]$ (zero mean). So the
# ratio is $1/2$ for *any* symmetric distribution and any scale $s$, not only a Gaussian: ReLU keeps
# the positive half of the second moment and discards the rest. This is why the ReLU rule differs
# from LeCun's $1/\text{fan\_in}$ by exactly a factor 2.
#
# Beware: $\operatorname{Var}[\mathrm{relu}(y)]$ is *not* $\operatorname{Var}[y]/2$, because
# $\mathrm{relu}(y)$ has a positive mean; the layer formula needs $E[x^2]$.


# %% [markdown]
# ## Exercise 2: write `kaiming_init_`
#
# Write `kaiming_init_(layer, negative_slope=0.0, mode="fan_in")` that, **in place**,
#
# * draws the weights from $\mathcal N\!\left(0, \frac{2}{(1+a^2)\,\text{fan}}\right)$ with
#   $a$ = `negative_slope` (0 for ReLU) and fan = `in_features` (`mode="fan_in"`) or `out_features`
#   (`mode="fan_out"`);
# * sets the bias to zero.
#
# Remember that `nn.Linear(in_features, out_features).weight` has shape `(out_features, in_features)`,
# and change parameters inside `torch.no_grad()`. Do not call `torch.nn.init.kaiming_normal_`: that
# is what the checker's hints compare you with. The checker uses non-square layers, so swapping the
# fans is caught.


# %%
def kaiming_init_(
    layer: nn.Linear, negative_slope: float = 0.0, mode: str = "fan_in"
) -> None:
    """In place: W ~ N(0, 2 / ((1 + a^2) fan)) with a = negative_slope, and a zero
    bias."""
    ### BEGIN SOLUTION
    fan = layer.in_features if mode == "fan_in" else layer.out_features
    std = math.sqrt(2.0 / ((1.0 + negative_slope**2) * fan))
    with torch.no_grad():  # initialisation is not part of the graph
        # in place: optimisers keep pointing at this tensor
        layer.weight.normal_(0.0, std)
        if layer.bias is not None:
            layer.bias.zero_()
    ### END SOLUTION


kaiming_init_ = lab.checked("kaiming_init_", kaiming_init_, checks.check_kaiming_init)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# It agrees with `torch.nn.init.kaiming_normal_(w, a=negative_slope, mode=mode,
# nonlinearity="leaky_relu")`, whose std is `calculate_gain("leaky_relu", a) / sqrt(fan)` with
# gain $\sqrt{2/(1+a^2)}$. A uniform version works too: $U(-b, b)$ has variance $b^2/3$, so
# $b = \sqrt{3}\cdot$std (that is `kaiming_uniform_`). Common mistakes: using `weight.shape[0]` as
# fan-in (it is the fan-out), forgetting the 2 (that is LeCun's init, which halves the signal per
# ReLU layer), and assigning `layer.weight = nn.Parameter(...)`, which silently detaches the
# parameter from an optimiser that was already built.


# %% [markdown]
# ## Exercise 3: verify the variance numerically
#
# Write `second_moments(init_fn, depth, width)` that stacks `depth` square `nn.Linear(width, width)`
# layers, initialises each with `init_fn(layer)`, pushes a batch $x \sim \mathcal N(0, 1)$ of shape
# `(512, width)` through `linear -> relu` layer after layer, and returns the list of
# $E[x_l^2]$ (`x.pow(2).mean()`) after each ReLU. Compare your Kaiming init with
# $\operatorname{Var}[w] = 1/n$ (`lecun_init_` below) over 30 layers. The checker wants your Kaiming
# profile flat and the other one halving per layer, within 5% per layer.


# %%
def lecun_init_(layer: nn.Linear) -> None:
    # Var[w] = 1/fan_in: right for a linear network, half what a ReLU network needs.
    with torch.no_grad():
        layer.weight.normal_(0.0, 1.0 / math.sqrt(layer.in_features))
        layer.bias.zero_()


def second_moments(
    init_fn, depth: int, width: int = 256, n: int = 512, seed: int = 0
) -> list:
    """E[x_l^2] after each ReLU of `depth` Linear(width, width) layers initialised by
    init_fn, for a batch x ~ N(0, 1) of shape (n, width) drawn after
    torch.manual_seed(seed)."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    x = torch.randn(n, width, dtype=torch.float64)
    moments = []
    with torch.no_grad():
        for _ in range(depth):
            layer = nn.Linear(width, width).double()
            init_fn(layer)
            x = torch.relu(layer(x))
            moments.append(x.pow(2).mean().item())
    return moments
    ### END SOLUTION


second_moments = lab.checked(
    "second_moments", second_moments, checks.check_second_moments
)

DEPTH = 30
kaiming_moments = second_moments(kaiming_init_, DEPTH)
lecun_moments = second_moments(lecun_init_, DEPTH)

fig, ax = plt.subplots()
layers = np.arange(1, DEPTH + 1)
ax.plot(
    layers,
    kaiming_moments,
    marker="o",
    markersize=3,
    color=rc.plots.color_for("relu"),
    label=r"your Kaiming init, $\mathrm{Var}[w] = 2/n$",
)
ax.plot(
    layers,
    lecun_moments,
    marker="o",
    markersize=3,
    color=rc.plots.OKABE_ITO[3],
    label=r"$\mathrm{Var}[w] = 1/n$",
)
ax.plot(
    layers,
    lecun_moments[0] * 0.5 ** (layers - 1),
    color="gray",
    linestyle="--",
    linewidth=1,
    label=r"theory: $\times 1/2$ per layer",
)
ax.set_yscale("log")
rc.plots.finish(
    ax,
    f"Signal through {DEPTH} ReLU layers at init (width 256, seed 0)",
    r"hidden layer $\ell$",
    r"$\mathbb{E}[x_\ell^2]$ (log scale)",
)
plt.show()
print("with the kaiming_init_ of Exercise 2:")
checks.check_profiles(kaiming_moments, lecun_moments, DEPTH)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# Two details matter: the input must have $E[x_0^2] = 1$ (a standard normal batch), and float64
# keeps $2^{-30}$ far from underflow (float32 would still be fine here, but not for PyTorch's
# default init over 50 layers: $6^{-50} \approx 10^{-39}$ is below float32's smallest normal
# number). With one weight draw the Kaiming curve wobbles: each layer
# multiplies the signal by a random factor whose *expectation* is 1. Try `seed=1, 2, ...` and a
# smaller `width` to see the wobble grow; `rc.theory.kaiming.forward_profile` does the same measurement
# with the course's `MLP`, and also records the backward gradient.


# %% [markdown]
# ## Exercise 4: reproduce the deep-network stall
#
# Train a 30-layer plain ReLU MLP (`rc.models.MLP`, width 64, no BatchNorm) on MNIST-1D with plain
# SGD (learning rate 0.05, no momentum), three seeds each, twice:
#
# * with PyTorch's default init (`init="pytorch_default", bias_init=None`: `nn.Linear`'s own
#   weights *and* biases);
# * with **your** `kaiming_init_` applied to every hidden layer (`model.blocks[i].linear`).
#
# For the second, write `init_hidden_layers_(model, init_fn)`, which applies `init_fn` to every hidden
# layer's linear map; `deep_mlp` below calls it.
#
# Plot the training loss (mean ± std over the seeds) against the chance level $\ln 10$. The checker
# wants the default runs stuck within 0.05 of chance for the whole run, and every Kaiming run
# clearly below it at the end. Then try: at what depth does the default start to stall? Does
# Xavier with gain 1 (`lecun_init_` on these square layers) stall at 30 layers?


# %%
STEPS = rc.by_mode(400, 1000)
SEEDS = (0, 1, 2)
data = rc.data.load_dataset("mnist1d", device=rt.device)
train_cfg = rc.TrainConfig(
    optimizer="sgd", lr=0.05, momentum=0.0, batch_size=128, steps=STEPS, eval_every=20
)


def init_hidden_layers_(model: rc.models.MLP, init_fn) -> None:
    """Apply init_fn to the nn.Linear of every hidden layer of model (not to its
    head)."""
    ### BEGIN SOLUTION
    for block in model.blocks:
        init_fn(block.linear)
    ### END SOLUTION


init_hidden_layers_ = lab.checked(
    "init_hidden_layers_", init_hidden_layers_, checks.check_init_hidden_layers
)
DEEP = rc.ModelConfig(
    width=64, depth=30, activation="relu", init="pytorch_default", bias_init=None
)


def deep_mlp(seed: int, init_fn=None) -> nn.Module:
    """The 30-layer ReLU MLP with PyTorch's default init, re-initialised by init_fn if
    given."""
    model = rc.experiments.init_model(DEEP, data.n_features, data.num_classes, seed)
    if init_fn is not None:
        init_hidden_layers_(model, init_fn)
    return model


runs = {"PyTorch default": [], "your Kaiming init": []}
for seed in SEEDS:
    for label, init_fn in (
        ("PyTorch default", None),
        ("your Kaiming init", kaiming_init_),
    ):
        cfg = dataclasses.replace(train_cfg, seed=seed)
        runs[label].append(
            rc.train.train(
                deep_mlp(seed, init_fn), data, cfg, label=f"{label} (seed {seed})"
            )
        )

fig, ax = plt.subplots()
for i, (label, results) in enumerate(runs.items()):
    rc.plots.mean_band(
        ax,
        results[0].steps,
        [r.train_loss for r in results],
        label,
        color=rc.plots.OKABE_ITO[[0, 2][i]],
    )
ax.axhline(
    var.CHANCE_LOSS_10,
    color="gray",
    linestyle=":",
    linewidth=1,
    label=r"chance, $\ln 10$",
)
rc.plots.finish(
    ax,
    f"30-layer ReLU MLP, plain SGD (seeds {SEEDS})",
    "SGD step",
    "training loss (mean ± std)",
)
plt.show()
checks.check_stall(
    runs["PyTorch default"], runs["your Kaiming init"], plateau_steps=STEPS
)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# Initialise *every* hidden layer, after building the model and before building the optimiser
# (`rc.train.train` builds it), as `deep_mlp` does. The head keeps PyTorch's default, which is fine:
# it is one layer.
#
# Why the default stalls: its weights have $n\operatorname{Var}[w] = 1/3$, so each ReLU layer
# multiplies the signal's second moment by $1/6$; after 30 layers nothing of the input is left, and
# the default biases dominate what remains, so every input produces nearly the same logits and the
# loss sits at $\ln 10$. The gradient reaching the early layers is shrunk by the same factor. In the
# chapter, with the same width and learning rate, the default already stalled at 8 layers, Xavier
# with gain 1 (halving per layer) at 30, and all three learned at 4 layers. Try
# `lecun_init_` in place of `kaiming_init_` here to reproduce the Xavier stall.


# %% [markdown]
# ## Explore: depth, init scale and activation
#
# The weights below are drawn with std $=$ `init_scale` $/\sqrt{n}$, i.e. $n\operatorname{Var}[w]$
# $=$ `init_scale`$^2$, in a square network of width 256 with zero biases. Left: each layer's
# pre-activation variance $\operatorname{Var}[y_l]$ and post-activation second moment $E[x_l^2]$
# (markers: measured; lines: the mean-field prediction); right: the backward gradient's second
# moment. On the static site this shows the default setting only; open the page in Colab or
# JupyterLab to move the controls.


# %%
def draw(depth=25, init_scale=1.25, activation="relu"):
    width = 256
    s2 = init_scale**2
    measured = var.forward_profile(
        depth,
        width,
        activation,
        init="normal",
        init_kwargs={"std": init_scale / math.sqrt(width)},
        n_samples=256,
    )
    theory = var.predicted_profile(depth, s2, activation)
    layers = np.arange(1, depth + 1)
    color = rc.plots.color_for(activation)
    fig, (ax_f, ax_b) = rc.plots.panels(2)
    ax_f.plot(
        layers,
        measured.second_moment,
        "o",
        markersize=4,
        color=color,
        label=r"$\mathbb{E}[x_\ell^2]$ measured",
    )
    ax_f.plot(
        layers,
        theory.second_moment,
        "-",
        color=color,
        label=r"$\mathbb{E}[x_\ell^2]$ theory",
    )
    ax_f.plot(
        layers,
        measured.pre_var,
        "s",
        markersize=3,
        color="gray",
        label=r"$\mathrm{Var}[y_\ell]$ measured",
    )
    ax_f.plot(
        layers,
        theory.pre_var,
        "--",
        color="gray",
        linewidth=1,
        label=r"$\mathrm{Var}[y_\ell]$ theory",
    )
    ax_b.plot(
        layers,
        measured.grad_second_moment,
        "o",
        markersize=4,
        color=color,
        label="measured",
    )
    ax_b.plot(layers, theory.grad_second_moment, "-", color=color, label="theory")
    for ax in (ax_f, ax_b):
        ax.set_yscale("log")
    # the forward fixed point at Var[y] = 1
    matched = rc.init.activation_gain(activation)
    rc.plots.finish(
        ax_f,
        rf"Forward: $\times${measured.ratio_per_layer():.3f} per layer",
        r"hidden layer $\ell$",
        "second moment / variance (log)",
    )
    rc.plots.finish(
        ax_b,
        rf"Backward: $\times${measured.ratio_per_layer('grad_second_moment'):.3f} "
        "per layer (read top-down)",
        r"hidden layer $\ell$",
        r"$\mathbb{E}[(\partial L/\partial y_\ell)^2]$ (log)",
    )
    fig.suptitle(
        rf"{activation}, depth {depth}, $n\,\mathrm{{Var}}[w] = {s2:.2f}$, seed 0"
        f"\n(its Kaiming gain: init_scale = {matched:.2f})"
    )
    plt.show()


rc.book.explorer.explore(
    draw,
    depth=(5, 50, 5),
    init_scale=(0.5, 2.0, 0.1),
    activation=["relu", "tanh", "sigmoid", "leaky_relu"],
)


# %% [markdown]
# Things to try:
#
# * **ReLU**: find the `init_scale` where the forward curve is flat. The slider moves in steps of
#   0.1, so it cannot hit $\sqrt2$ exactly; how much does 1.4 drift over 50 layers? How far do 1.3
#   and 1.5 drift?
# * **leaky_relu** (slope 0.01): is the flat scale measurably different from ReLU's? Compute
#   $\sqrt{2/(1+a^2)}$ for $a = 0.01$.
# * **tanh**: what does the signal do at `init_scale` 1.0, and how fast? And above 1.0: does it keep
#   growing, or level off? Watch the gradient on the right at the same time. Which setting would you
#   pick for a 50-layer net?
# * **sigmoid**: how much does the forward second moment change as you move `init_scale`, and what
#   does the gradient do meanwhile? If the forward signal looks healthy while the gradient vanishes,
#   why does a flat forward signal not guarantee a healthy backward one?
