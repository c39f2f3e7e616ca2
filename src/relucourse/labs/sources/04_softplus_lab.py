"""The softplus lab, solved: the single source of labs/04_softplus_lab.ipynb and of its references.

Edit this file, not the notebook, then run ``python -m relucourse.labs.build`` from the repository
root. Format and markers: ``relucourse.labs.source``.
"""


# %% [markdown]
# # Lab: softplus, stable and sharp
#
# In the chapter [Softplus: the smooth ReLU](../chapters/04_softplus) we compared softplus with
# ReLU using the course package. Here you write the pieces yourself: a softplus that cannot
# overflow, its derivative by autograd, the gap to ReLU as $\beta$ grows, and the "steps to a target
# loss" measurement, which you then use on a small ReLU vs softplus experiment.
#
# Each exercise cell starts as a stub marked `# YOUR CODE`: a function whose body is
# `raise NotImplementedError`, or a value left as `...`. Write your answer there and rerun the cell;
# its checker says whether the answer passes (an `[ok]` line), and if not, why. Until you write it,
# the cell prints a `[skipped]` line, checks the course's reference solution instead and the rest of
# the lab uses that, so the page still runs from top to bottom. Solutions are hidden under
# **Solution**.

# %%
import math

import matplotlib.pyplot as plt
import torch

import relucourse as rc
from relucourse.labs.checks import softplus as checks

rt = rc.setup(seed=0)
# references for exercises not written yet
lab = rc.labs.exercise.Lab("04_softplus_lab", globals())


# %% [markdown]
# ## Exercise 1: a softplus that cannot overflow
#
# First, see the problem. The textbook formula `log(1 + exp(x))` is fine for small inputs and
# returns `inf` for large ones, where the true value is simply about $x$:


# %%
x = torch.tensor([-100.0, -20.0, 0.0, 20.0, 80.0, 90.0, 1000.0])
naive = torch.log(1 + torch.exp(x))
for xi, yi in zip(x.tolist(), naive.tolist(), strict=True):
    print(f"x = {xi:8.1f}   log(1 + exp(x)) = {yi:.6g}")
# overflow on the right, rounding on the left
assert torch.isinf(naive[-2:]).all() and naive[1] == 0.0


# %% [markdown]
# Both ends are wrong: `inf` on the right (float32's `exp` overflows above $x \approx 88.7$), and an
# exact `0` at $x = -20$, where the true value is $e^{-20} \approx 2\times 10^{-9}$ ($1 + e^{-20}$
# rounds to $1$ in float32).
#
# **Your task.** Write `my_softplus(x)` that matches $\log(1+e^x)$ to float precision in float32
# *and* float64, for every finite $x$. Do not call `F.softplus`. Hints: for $x > 0$,
# $\log(1+e^x) = x + \log(1 + e^{-x})$; and `torch.log1p(t)` computes $\log(1+t)$ accurately for tiny
# $t$.


# %%
def my_softplus(x: torch.Tensor) -> torch.Tensor:
    """log(1 + e^x), elementwise, finite for every finite x in float32 and float64."""
    ### BEGIN SOLUTION
    return x.clamp_min(0) + torch.log1p(torch.exp(-x.abs()))
    ### END SOLUTION


my_softplus = lab.checked("my_softplus", my_softplus, checks.check_stable_softplus)


# %% [markdown] tags=["solution"]
# Split off the part that can be large. For any $x$,
# $\log(1+e^x) = \max(x,0) + \log(1+e^{-|x|})$: for $x \ge 0$ factor $e^x$ out of the sum, for
# $x < 0$ nothing changes. Now `exp` only sees $-|x| \le 0$, so it lies in $(0, 1]$ and cannot
# overflow, and `log1p` keeps the tiny values for very negative $x$.
#
# <!-- solution code -->
#
# Equivalent one-liners: `torch.logaddexp(x, torch.zeros_like(x))`, or
# `torch.where(x > 20, x, torch.log1p(torch.exp(x)))` (PyTorch's own threshold trick; the
# `exp` is still evaluated on the discarded branch, which is harmless in the forward pass but
# makes the *gradient* of the `where` nan at large $x$, a classic pitfall).


# %% [markdown]
# ## Exercise 2: the slope is the sigmoid
#
# Write `softplus_slope(x)` that returns $\frac{d}{dx}\operatorname{softplus}(x)$ at every point of
# `x`, computed by **autograd** (not by the formula). The checker compares it with
# $\sigma(x)$.


# %%
def softplus_slope(x: torch.Tensor) -> torch.Tensor:
    """d softplus / dx at every point of x, by autograd on my_softplus."""
    ### BEGIN SOLUTION
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(my_softplus(x).sum(), x)
    return grad
    ### END SOLUTION


softplus_slope = lab.checked(
    "softplus_slope", softplus_slope, checks.check_softplus_derivative
)


# %% [markdown] tags=["solution"]
# Summing the outputs gives a scalar whose gradient with respect to `x[i]` is the derivative at
# `x[i]`, because each output depends on its own input only:
#
# <!-- solution code -->
#
# Using *your* `my_softplus` relies on its gradient being finite at large $|x|$, which is why
# Exercise 1's checker already ran autograd through it: with the `torch.where` version from the
# solution above, autograd returns `nan` for $x$ above about 89 (in float32).


# %% [markdown]
# ## Exercise 3: how close is softplus_beta to ReLU?
#
# $\operatorname{softplus}_\beta(x) = \log(1+e^{\beta x})/\beta$ sharpens the bend as $\beta$ grows.
# Move the slider (in Colab or JupyterLab) and watch the curve, its slope and the gap to ReLU.


# %%
def draw(beta: float) -> None:
    x = torch.linspace(-3, 3, 601)
    y = rc.activations.activation_fn("softplus", beta=beta)(x).detach()
    fig, (ax_f, ax_g) = rc.plots.panels(2)
    # ReLU on top (zorder), so it stays visible at large beta
    ax_f.plot(
        x,
        torch.relu(x),
        color=rc.plots.color_for("relu"),
        linestyle="--",
        label="ReLU",
        zorder=3,
    )
    ax_f.plot(
        x, y, color=rc.plots.color_for("softplus"), label=rf"softplus, $\beta={beta:g}$"
    )
    ax_f.plot(
        x,
        rc.activations.derivative("softplus", x, beta=beta),
        color="gray",
        linestyle=":",
        label=r"its slope $\sigma(\beta x)$",
    )
    ax_g.plot(x, y - torch.relu(x), color=rc.plots.color_for("softplus"), label="gap")
    ax_g.axhline(
        math.log(2) / beta, color="gray", linestyle=":", label=r"$\log(2)/\beta$"
    )
    ax_g.set_ylim(0, 1.5)
    rc.plots.finish(
        ax_f, rf"softplus with $\beta = {beta:g}$", r"pre-activation $x$", "value"
    )
    rc.plots.finish(
        ax_g,
        "Gap to ReLU",
        r"pre-activation $x$",
        r"$\mathrm{softplus}_\beta(x) - \mathrm{relu}(x)$",
    )
    plt.show()


# The slider starts where the static site figure is drawn: the middle of (0.5, 20), on
# the 0.5 grid.
rc.book.explorer.explore(draw, beta=(0.5, 20.0, 0.5))


# %% [markdown]
# **Your task.** Write `max_gap(beta)`: the largest $|\operatorname{softplus}_\beta(x) -
# \operatorname{relu}(x)|$, measured numerically on a grid (use `torch.nn.Softplus(beta=beta)`).
# The checker compares it with the formula $\log(2)/\beta$. Then answer in `beta_for_001`: how large
# must $\beta$ be for softplus to stay within $0.01$ of ReLU everywhere?


# %%
def max_gap(beta: float) -> float:
    """max |softplus_beta(x) - relu(x)| over a grid of x, with
    torch.nn.Softplus(beta=beta)."""
    ### BEGIN SOLUTION
    x = torch.linspace(-10, 10, 200_001, dtype=torch.float64)
    return (torch.nn.Softplus(beta=beta)(x) - torch.relu(x)).abs().max().item()
    ### END SOLUTION


max_gap = lab.checked("max_gap", max_gap, checks.check_max_gap)

### BEGIN SOLUTION: the smallest beta for which softplus_beta is within 0.01 of ReLU everywhere
beta_for_001 = math.log(2) / 0.01
### END SOLUTION

beta_for_001 = lab.checked(
    "beta_for_001", beta_for_001, checks.check_beta_for_gap, 0.01
)
print(f"softplus_beta stays within 0.01 of ReLU once beta >= {beta_for_001:.1f}")
# measured on the grid, not only by the formula
assert max_gap(beta_for_001) <= 0.01 + 1e-9


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# The gap is $\log(1+e^{-\beta|x|})/\beta$, largest at $x=0$, so the grid must contain $0$ (an odd
# number of points on a symmetric interval does). $\log(2)/\beta \le 0.01$ needs
# $\beta \ge 100\log 2 \approx 69.3$. With such a sharp bend the slope $\sigma(\beta x)$ goes from
# about $0.01$ to $0.99$ within $|x| < 0.07$: numerically it *is* a ReLU. In exact arithmetic it
# has none of ReLU's zeros, but float32 rounds $\log(1+e^{\beta x})/\beta$ to exactly 0 once
# $\beta x$ is below about $-103$, here for $x$ below about $-1.5$: so at this $\beta$ it gives
# exact zeros too, for every input well left of the bend.


# %% [markdown]
# ## Exercise 4: how fast does each network fit?
#
# Write `steps_to_target(result, target)`: the first evaluation step at which the training loss
# `result.train_loss` (recorded at steps `result.steps`) is at most `target`, or `None` if it never
# gets there. Then use it below.


# %%
def steps_to_target(result: rc.records.Record, target: float) -> int | None:
    """The first evaluation step whose training loss is <= target, or None if there is
    none."""
    ### BEGIN SOLUTION
    for step, loss in zip(result.steps, result.train_loss, strict=True):
        if loss <= target:
            return step
    return None
    ### END SOLUTION


steps_to_target = lab.checked(
    "steps_to_target", steps_to_target, checks.check_steps_to_target
)


# %% [markdown] tags=["solution"]
# Return the *step*, not the list index, and `None` (not `-1` or the last step) when the target is
# never reached, so that an unreached run cannot be mistaken for a fast one:
#
# <!-- solution code -->


# %% [markdown]
# Now the experiment, the chapter's set-up (same configurations, grid and probes, so the runs come
# from the cache if you ran the chapter): ReLU against softplus for the values of $\beta$ in
# `BETAS`, and the shifted softplus $\operatorname{softplus}(x) - \log 2$, over the seeds in
# `SEEDS`. Every activation gets **its own learning rate**, chosen by `rc.tune` on a validation
# split (mean final validation accuracy of seeds 0 and 1, over the grid `LRS`; the chosen rate is
# then trained with the other seeds too), so none is judged at a rate that happens to suit
# another. Choose your own `BETAS` (for example `[0.5, 1.0, 2.0, 4.0, 8.0]`; each extra value
# costs nine more training runs in fast mode: four rates with two seeds, then the chosen one with
# the third).


# %%
BETAS = [1.0, 4.0]  # your choice of softplus sharpness
TARGET = 0.8  # training cross-entropy (chance: log 10 = 2.30)
SEEDS = rc.by_mode((0, 1, 2), (0, 1, 2, 3, 4))
LRS = [0.03, 0.1, 0.3, 0.6]  # the tuning grid, as in the chapter
BASE = rc.RunConfig(
    data=rc.DataConfig(name="mnist1d", val_fraction=0.1),
    model=rc.ModelConfig(width=64, depth=3, init="kaiming_normal", bias_init=0.0),
    train=rc.TrainConfig(
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        steps=rc.by_mode(400, 1500),
        eval_every=25,
    ),
)
arms = {
    "relu": BASE.replace(**{"model.activation": "relu"}),
    "softplus shifted": BASE.replace(
        **{
            "model.activation": "softplus",
            "model.activation_kwargs": {"beta": 1.0, "shifted": True},
        }
    ),
}
for b in BETAS:
    arms[f"softplus beta={b:g}"] = BASE.replace(
        **{
            "model.activation": "softplus",
            "model.activation_kwargs": {"beta": float(b)},
        }
    )
groups = rc.tune(
    arms,
    grid={"train.lr": LRS},
    seeds=SEEDS,
    screen_seeds=SEEDS[:2],
    select="val_acc",
    probes=[rc.probes.ZeroFractions()],
)

# legend names, with beta as a symbol
legend_name = {f"softplus beta={b:g}": rf"softplus, $\beta={b:g}$" for b in BETAS}
fig, ax = plt.subplots()
for i, (label, results) in enumerate(groups.items()):
    reached = [steps_to_target(r, TARGET) for r in results]
    shown = [s if s is not None else results[0].steps[-1] for s in reached]
    zeros = [r.zero_fraction() for r in results]
    acc = [r.final_test_acc for r in results]
    lr = groups.params(label)["train.lr"]
    print(
        f"{label:18s} lr {lr:<4g} steps to {TARGET}: {shown} "
        f"(None = never: {reached.count(None)})"
        f"   exact zeros {sum(zeros) / len(zeros):.3f}"
        f"   test acc {sum(acc) / len(acc):.3f}"
    )
    color = rc.plots.color_for(results[0].activation)
    rc.plots.mean_band(
        ax,
        results[0].steps,
        [r.train_loss for r in results],
        f"{legend_name.get(label, label)}, lr={lr:g}",
        color=color,
        linestyle=rc.plots.LINESTYLES[i % 4],
    )
ax.axhline(TARGET, color="gray", linestyle=":", linewidth=1, label="target")
ax.set_yscale("log")
rc.plots.finish(
    ax,
    f"Training loss at each tuned lr, mean ± std over seeds {SEEDS}",
    "SGD step",
    "training cross-entropy (log scale)",
)
plt.show()
assert all(len(v) == len(SEEDS) for v in groups.values())
assert groups["relu"][0].zero_fraction() > 0.3  # only ReLU has many exact zeros
# the others: none, or a few where float32 underflows (0 once beta * x < -103)
assert all(
    r.zero_fraction() < 0.05 for k, v in groups.items() if k != "relu" for r in v
)


# %% [markdown]
# Questions to answer from your runs:
#
# 1. How does the number of steps to the target change as $\beta$ grows? Where does it stop
#    changing?
# 2. The sharp softplus and the shifted softplus have no exact zeros of their own (a sharp one shows
#    a small share from float32 underflow, far left of the bend; the cell checks it stays under
#    5 %, which a very large $\beta$ would break). What does that tell you about
#    the claim that ReLU's hard zeros are what make it train fast? And what does the shifted one
#    tell you that the sharp one cannot?
# 3. Does faster fitting mean better test accuracy here?
#
# <details><summary>Solution</summary>
#
# 1. The chapter runs this set-up with $\beta = 1$ and $\beta = 4$ and asserts that plain softplus
#    ($\beta = 1$) needs more than 1.4 times ReLU's steps (a lower bound: within the fast-mode run
#    it may not reach the target at all), and $\beta = 4$ fewer steps than plain softplus. Your
#    printout has the steps for each $\beta$ you chose: at what $\beta$ do they stop changing?
#    Try $\beta = 0.5$ too: is it slower still, and does it reach the target within the run at all
#    (`steps_to_target` returns `None` when it does not)?
# 2. ReLU has three properties at once: a sharp bend, exact zeros, and an output that is 0 at 0.
#    $\beta$ moves two of them together, the bend and the offset $\log(2)/\beta$, so a fast sharp
#    softplus only shows that exact zeros are not needed. The shifted softplus keeps plain softplus'
#    wide bend and removes only the offset; in the chapter it reaches the target within 10% of
#    ReLU's steps (asserted there). So in this experiment the speed comes from an output centred near
#    zero, not from the sharp bend and not from the zeros. That does not refute
#    {cite:t}`glorot2011deep` in general (other data, depths and budgets), but it is not evidence
#    *for* "hard zeros help" either.
# 3. Compare the printed test accuracies with the training losses in the plot. With tuned rates
#    the shifted softplus is at least as accurate as ReLU and more accurate than plain softplus
#    (asserted in the chapter); how far the slow fitter falls behind depends on the budget of
#    steps (compare fast and full mode, `RELUCOURSE_FAST=0`). But speed to a
#    training-loss target measures optimisation, not generalisation: in the chapter tanh fits the
#    training set as fast as ReLU and still ends less accurate. Does your printout agree for the
#    values of $\beta$ you added?
# </details>
