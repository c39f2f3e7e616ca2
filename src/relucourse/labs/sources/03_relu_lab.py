"""The dead-ReLU lab, solved: the single source of labs/03_relu_lab.ipynb and of its references.

Edit this file, not the notebook, then run ``python -m relucourse.labs.build`` from the repository
root. Format and markers: ``relucourse.labs.source``.
"""


# %% [markdown]
# # Lab: dead ReLUs
#
# In the chapter [ReLU sparsity and dying ReLU](../chapters/03_relu_sparsity) we measured dead
# units with the course package. Here you build the measurement yourself, reproduce the
# learning-rate result, and rescue a dying network.
#
# Each exercise cell starts as a stub marked `# YOUR CODE`: a function whose body is
# `raise NotImplementedError`, or a value left as `...`. Write your answer there and rerun the cell;
# its checker says whether the answer passes (an `[ok]` line), and if not, why. Until you write it,
# the cell prints a `[skipped]` line, checks the course's reference solution instead and the rest of
# the lab uses that, so the page still runs from top to bottom. Solutions are hidden under
# **Solution**.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

import relucourse as rc
from relucourse.labs.checks import dead_relu as checks

rt = rc.setup(seed=0)
# references for exercises not written yet
lab = rc.labs.exercise.Lab("03_relu_lab", globals())
# half the chapter's 3,000 steps at full size: the lab trains every model
# itself (not cached), and its checks hold at that budget
STEPS = rc.by_mode(300, 1500)
SEEDS = (0, 1, 2)
# the chapter's base network, on the same training set (10% held out)
BASE = rc.RunConfig(
    data=rc.DataConfig(name="mnist1d", val_fraction=0.1),
    model=rc.ModelConfig(
        width=64, depth=4, activation="relu", init="kaiming_normal", bias_init=0.0
    ),
    train=rc.TrainConfig(optimizer="adam", lr=1e-2, steps=STEPS, eval_every=STEPS // 4),
)
# loaded once; rc.fit trains on it
data = rc.data.load_dataset(
    "mnist1d", device=rt.device, val_fraction=BASE.data.val_fraction
)


# %% [markdown]
# ## Exercise 1: a forward hook that counts dead units
#
# A unit is **dead** when its output is exactly 0 on *every* training input. Write
# `count_dead(model, x)` that
#
# 1. registers a forward hook (`module.register_forward_hook(fn)`, with
#    `fn(module, inputs, output)`) on every module whose name ends in `.act`;
# 2. runs `x` through the model in batches (a unit is dead only if it is dead in *every* batch);
# 3. removes the hooks even if something fails (`try`/`finally`);
# 4. returns `{layer name: number of dead units}`.
#
# The checker compares your counts with `rc.probes.dead_units`, on a trained network and on a
# copy in which it kills a few units on purpose.


# %%
def count_dead(
    model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1000
) -> dict[str, int]:
    """{layer name: number of units exactly 0 on every row of x}, for each module
    named '*.act'."""
    ### BEGIN SOLUTION
    fired = {}

    def make_hook(name):
        def hook(module, inputs, output):
            now = (output > 0).any(dim=0)  # (units,) for an MLP layer
            fired[name] = now if name not in fired else fired[name] | now

        return hook

    handles = [
        m.register_forward_hook(make_hook(n))
        for n, m in model.named_modules()
        if n.endswith(".act")
    ]
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                model(x[start : start + batch_size])
    finally:  # never leave hooks behind
        for h in handles:
            h.remove()
    return {name: int((~mask).sum()) for name, mask in fired.items()}
    ### END SOLUTION


model, _ = rc.fit(BASE.replace(**{"train.lr": 3e-2}), data=data)
count_dead = lab.checked(
    "count_dead", count_dead, checks.check_dead_counter, model, data.x_train
)


# %% [markdown] tags=["solution"]
# Keep one boolean mask per layer saying whether each unit has been positive *anywhere*; a dead unit
# is one that never was. OR-ing "fired" masks across batches is the same as AND-ing "zero" masks.
#
# <!-- solution code -->
#
# Pitfalls: `output == 0` on one batch is not "dead"; forgetting `torch.no_grad()` builds a graph
# for nothing; in-place activations (`nn.ReLU(inplace=True)`) can make hooks on the *previous* module
# see already-rectified values, which is why the course registry never uses them.


# %% [markdown]
# ## Exercise 2: dead fraction vs learning rate
#
# Reproduce the chapter's Adam sweep with *your* counter (at full size with half its budget,
# `STEPS`): for each learning rate and each seed, train the base network and measure the fraction
# of its 256 hidden units that are dead. One shared rate per point is the point here (what a
# too-high rate does), not a comparison of activations.
# Pick the rates yourself; the checker wants at least three, spanning a gentle one and a too-high
# one. (Adam's default rate is `1e-3`; the chapter also runs plain SGD, which diverges before it
# kills many units.)


# %%
### BEGIN SOLUTION: your choice of (at least three) Adam learning rates, as a list
LRS = [1e-3, 1e-2, 3e-2, 1e-1]
### END SOLUTION

LRS = lab.checked("LRS", LRS, checks.check_lr_choice)
n_units = BASE.model.width * BASE.model.depth
dead = {lr: [] for lr in LRS}
acc = {lr: [] for lr in LRS}
for lr in LRS:
    for seed in SEEDS:
        model, result = rc.fit(
            BASE.replace(**{"train.lr": lr, "train.seed": seed}), data=data
        )
        dead[lr].append(sum(count_dead(model, data.x_train).values()) / n_units)
        acc[lr].append(result.final_test_acc)

fig, ax = plt.subplots()
ax.errorbar(
    LRS,
    [np.mean(dead[lr]) for lr in LRS],
    yerr=[np.std(dead[lr]) for lr in LRS],
    marker="o",
    capsize=3,
    color=rc.plots.color_for("relu"),
    label=f"ReLU, seeds {SEEDS}",
)
ax.axhline(
    0.4, color="gray", linestyle="--", linewidth=1, label="CS231n: 'as much as 40%'"
)
ax.set_xscale("log")
rc.plots.finish(
    ax,
    "Dead units after training (your counter)",
    "Adam learning rate",
    "fraction of hidden units dead",
)
plt.show()
for lr in LRS:
    print(
        f"lr={lr:<6g} dead {np.mean(dead[lr]):.3f} ± {np.std(dead[lr]):.3f}   "
        f"test acc {np.mean(acc[lr]):.3f}"
    )
checks.check_lr_sweep(LRS, [float(np.mean(dead[lr])) for lr in LRS])


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# Any range from about `1e-3` to `1e-1` shows it: the checker confirms that the largest rate leaves
# more units dead than the smallest, and that some rate kills at least 30% of them. Note where that
# happens: at 30 to 100 times Adam's default rate. Now read the printout: what happens to test
# accuracy at the rates where units die? And do the layers die evenly? `count_dead` gives one
# count per layer: call it on a model trained at your largest rate and see which layers lose the
# most. Compare your mean ± std with the chapter's figure: the same
# configurations and seeds (the chapter trains them with the batched engine, equal within float
# tolerance), measured by a different counter.


# %% [markdown]
# ## Exercise 3: fix a dying network
#
# The network below trains with Adam at a learning rate of 0.1; the cell prints the fraction of its
# units that die and checks that it is more than half. Set `FIXED` to a copy of `DYING` with **one or
# two** settings changed (`DYING.replace(**{"section.field": value})`) so that fewer than 10% of the
# units are dead and test accuracy rises by at least 20 points. Ideas: the learning rate, the
# activation (`"leaky_relu"`, `"elu"`, `"relu_leaky_backward"`), the optimiser, `model.batchnorm`.
# Then try at least one other fix and compare: which one recovers accuracy, which one only hides the
# zeros?


# %%
DYING = BASE.replace(**{"train.lr": 0.1})


def dead_and_acc(cfg):
    """(dead fraction, final test accuracy) of ``cfg`` trained with each seed in
    SEEDS."""
    out = []
    for seed in SEEDS:
        model, result = rc.fit(cfg.replace(**{"train.seed": seed}), data=data)
        dead_fraction = sum(count_dead(model, data.x_train).values()) / n_units
        out.append((dead_fraction, result.final_test_acc))
    return out


dying = dead_and_acc(DYING)
dying_dead = float(np.mean([d for d, _ in dying]))
print(f"DYING: {dying_dead:.0%} of the hidden units dead (mean over seeds {SEEDS})")
assert dying_dead > 0.5  # the rate kills most of the units

### BEGIN SOLUTION: your fix, a copy of DYING with one or two settings changed
FIXED = DYING.replace(**{"train.lr": 1e-2})
### END SOLUTION

FIXED = lab.checked("FIXED", FIXED, checks.check_fix_config, DYING, dying, dead_and_acc)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# The rate was the cause: the gentler base rate `1e-2` fixes both numbers (the cell checks exactly
# this while your own `FIXED` is still `...`). The other ideas are for you to measure, each with
# `checks.check_fix_config(cfg, DYING, dying, dead_and_acc)`:
#
# * `model.activation = "leaky_relu"` or `"elu"` cannot leave a dead unit, by definition (no output
#   is exactly zero). Does accuracy recover too at lr = 0.1, or are the steps still too large?
#   Removing zeros is not the goal; learning is.
# * `model.batchnorm = True`: does it pass both criteria, or recover accuracy while units stay dead?
# * `train.optimizer = "sgd"` at the same lr = 0.1: plain SGD's steps scale with the gradient, Adam's
#   do not, so the same nominal rate can be far gentler. Is it a fix?
#
# These fixes all run at the dying network's rate on purpose: the question is what rescues *that*
# network. Which activation is better in general is another question, which needs each activation
# at its own tuned rate (the chapter's section 6 does it with `rc.tune`).


# %% [markdown]
# ## Explore
#
# Train one network for any combination and watch each layer's dead fraction during training
# (runs are cached, so revisiting a setting is instant). Every activation here runs at the rate you
# pick: the explorer shows what a rate does to each, not which activation is best (for that, each
# needs its own tuned rate, as in the chapter's section 6). On the static site this shows the default
# setting only; open the page in Colab or JupyterLab to move the controls.


# %%
def draw(lr=1e-2, bias_init=0.0, activation="relu"):
    cfg = BASE.replace(
        **{"train.lr": lr, "model.bias_init": bias_init, "model.activation": activation}
    )
    result = rc.experiments.run(cfg, probes=[rc.probes.DeadUnits(every=STEPS // 8)])
    fig, ax = plt.subplots()
    for i, values in enumerate(result.unit_series("dead").values()):
        ax.plot(
            result.check_steps(),
            values,
            marker="o",
            markersize=3,
            label=f"hidden layer {i + 1}",
            color=rc.plots.OKABE_ITO[i],
        )
    ax.set_ylim(-0.02, 1.02)
    rc.plots.finish(
        ax,
        f"{activation}, lr={lr:g}, bias={bias_init:g} (seed 0): "
        f"test acc {result.final_test_acc:.2f}",
        "training step",
        "fraction of the layer's units dead",
    )
    plt.show()


rc.book.explorer.explore(
    draw,
    lr=[1e-2, 1e-3, 3e-2, 1e-1],
    bias_init=[0.0, -2.0, -1.0, 0.01, 0.1],
    activation=["relu", "leaky_relu", "prelu", "elu", "relu_leaky_backward"],
)


# %% [markdown]
# Things to try: at `lr=0.1`, does `relu_leaky_backward` save more units than a bias of `0.01`? At
# `bias_init=-2`, which layer dies first, and does it come back? For `leaky_relu` the curve stays at
# zero: *dead* means exactly zero everywhere, which a leaky unit can never be.
