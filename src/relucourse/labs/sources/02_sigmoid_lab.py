"""The sigmoid lab, solved: the single source of labs/02_sigmoid_lab.ipynb and of its references.

Edit this file, not the notebook, then run ``python -m relucourse.labs.build`` from the repository
root. Format and markers: ``relucourse.labs.source``.
"""


# %% [markdown]
# # Lab: sigmoid, its derivative, and the vanishing gradient
#
# Companion to the chapter *Sigmoid saturation and vanishing gradients*. You will
#
# 1. implement the sigmoid and its derivative and check them against PyTorch's autograd;
# 2. predict how much weaker the gradient is at layer 1 of a deep sigmoid MLP, then measure it;
# 3. explore per-layer gradient norms for any depth, activation and initialisation.
#
# Cells marked `# YOUR CODE` start as stubs: a function whose body is `raise NotImplementedError`, or
# a value left as `...`. Write your answer there and rerun the cell: an `[ok]` line means its check
# passed; otherwise the error message says what to look at. Until you write it, the cell prints a
# `[skipped]` line, checks the course's reference solution instead and the rest of the lab uses that,
# so the page still runs from top to bottom. The model solutions are hidden under **Solution**.

# %%
import math  # noqa: F401  (for your formulas in Task 3)

import matplotlib.pyplot as plt
import torch

import relucourse as rc
from relucourse.labs.checks import saturation as checks
from relucourse.theory import saturation as G

rt = rc.setup(seed=0)
# references for exercises not written yet
lab = rc.labs.exercise.Lab("02_sigmoid_lab", globals())


# %% [markdown]
# ## Task 1: the sigmoid
#
# Write $\sigma(x) = 1/(1+e^{-x})$ for a tensor `x`, using only elementwise torch operations
# (no `torch.sigmoid`). The checker compares it with `torch.sigmoid` on 606 points, including
# $|x| = 800$ where a careless formula produces `nan`, in float32 and in float64 (it must keep the
# input's dtype), and checks that autograd can differentiate it, as Task 2 does.


# %%
def my_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """1 / (1 + exp(-x)), elementwise, without torch.sigmoid."""
    ### BEGIN SOLUTION
    return 1 / (1 + torch.exp(-x))
    ### END SOLUTION


my_sigmoid = lab.checked("my_sigmoid", my_sigmoid, checks.check_sigmoid)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# For very negative `x`, `torch.exp(-x)` overflows to `inf`, and `1 / (1 + inf)` is `0.0`: the correct
# limit, so this form is safe. The algebraically equal `torch.exp(x) / (1 + torch.exp(x))` is not:
# for large positive `x` it computes `inf / inf = nan`. Library implementations pick the safe form
# per element (or compute it in a way that never overflows).


# %% [markdown]
# ## Task 2: its derivative, checked with autograd
#
# Show that $\sigma'(x) = \sigma(x)\,(1-\sigma(x))$ and implement it, using your `my_sigmoid`. The
# checker compares it with autograd; after it, the cell also does that comparison by hand on a few
# points, so you can see how.


# %%
def my_sigmoid_derivative(x: torch.Tensor) -> torch.Tensor:
    """d sigmoid / dx, elementwise, written with my_sigmoid."""
    ### BEGIN SOLUTION
    s = my_sigmoid(x)
    return s * (1 - s)
    ### END SOLUTION


my_sigmoid_derivative = lab.checked(
    "my_sigmoid_derivative", my_sigmoid_derivative, checks.check_sigmoid_derivative
)

# By hand: autograd differentiates the sigmoid; compare with the formula.
x = torch.linspace(-8, 8, 17, dtype=torch.float64, requires_grad=True)
(autograd_slope,) = torch.autograd.grad(my_sigmoid(x).sum(), x)
max_diff = (autograd_slope - my_sigmoid_derivative(x.detach())).abs().max().item()
print(f"largest difference between autograd and the formula: {max_diff:.1e}")
assert max_diff < 1e-12


# %% [markdown] tags=["solution"]
# With $s = \sigma(x) = (1+e^{-x})^{-1}$,
# $s' = e^{-x}(1+e^{-x})^{-2} = s \cdot \frac{e^{-x}}{1+e^{-x}} = s\,(1-s)$.
#
# <!-- solution code -->
#
# The product $s(1-s)$ of two numbers that add up to 1 is largest when both are $1/2$, i.e. at
# $x = 0$, where it equals $1/4$: the checker prints that maximum.


# %% [markdown]
# ## Task 3: predict, then measure, the gradient at layer 1
#
# Take an MLP of $L$ hidden sigmoid layers of width $n$, PyTorch's default init
# ($n\,\mathrm{Var}[W] = 1/3$) and zero biases. Going down one layer, backpropagation computes
# $\delta_{l-1} = \sigma'(z_{l-1}) \odot (W_l^\top \delta_l)$, which scales $\mathbb{E}\|\delta\|^2$ by about
# $n\,\mathrm{Var}[W]\,\mathbb{E}[\sigma'(z)^2]$.
#
# **Predict** the largest factor by which one layer can scale $\|\delta\|$ (not its square), using
# $\sigma' \le 1/4$. Then predict the ratio $\|\partial L/\partial W_1\| / \|\partial L/\partial W_L\|$
# for $L = 8$, assuming every layer applies that factor.


# %%
n_var_w = 1 / 3
depth = 8

### BEGIN SOLUTION: your two predictions (numbers, or formulas in n_var_w and depth)
predicted_factor = math.sqrt(
    n_var_w * (1 / 4) ** 2
)  # the largest factor by which one layer scales ||delta||
predicted_ratio = predicted_factor ** (
    depth - 1
)  # ||dL/dW_1|| / ||dL/dW_L|| if each layer applies it
### END SOLUTION

predicted_factor = lab.checked(
    "predicted_factor", predicted_factor, checks.check_factor_prediction, n_var_w
)
predicted_ratio = lab.checked(
    "predicted_ratio", predicted_ratio, checks.check_ratio_prediction, depth, n_var_w
)
print(
    f"predicted per-layer factor at most {predicted_factor:.4f}; "
    f"layer 1 / layer {depth} about {predicted_ratio:.2e}"
)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# $\mathbb{E}[\sigma'(z)^2] \le (1/4)^2 = 1/16$, so one layer scales the norm by at most
# $\sqrt{n\,\mathrm{Var}[W]/16} = \sqrt{1/48} \approx 0.144$. Over the $L - 1 = 7$ layers between the
# last and the first, that compounds to about $0.144^7 \approx 1.3 \times 10^{-6}$. Sigmoid's outputs
# stay near $1/2$, so $\|h_{l-1}\|$ in $\partial L/\partial W_l = \delta_l h_{l-1}^\top$ does not
# compensate (as it does for tanh and ReLU at this init). Layer 1 differs a little, because its input
# is the data rather than sigmoid outputs.


# %% [markdown]
# Now **measure**. Write `my_gradient_norms(model, x, y)`: run one cross-entropy backward on the
# batch and return $\|\partial L/\partial W_l\|$ for every hidden layer
# (`model.blocks[i].linear.weight.grad`), input side first. The cell applies it to the 8-layer network
# on 512 MNIST-1D samples.


# %%
def my_gradient_norms(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor
) -> list[float]:
    """||dL/dW_l|| of every hidden layer after one cross-entropy backward, input side
    first."""
    ### BEGIN SOLUTION
    model.zero_grad()  # .grad accumulates across backward calls
    torch.nn.functional.cross_entropy(model(x), y).backward()
    return [block.linear.weight.grad.norm().item() for block in model.blocks]
    ### END SOLUTION


data = rc.data.load_mnist1d(rt.device)
x_batch, y_batch = data.x_train[:512], data.y_train[:512]
model = G.make_mlp(
    "sigmoid",
    depth,
    data.n_features,
    data.num_classes,
    width=64,
    init="pytorch_default",
    bias_init=0.0,
    seed=0,
)
my_gradient_norms = lab.checked(
    "my_gradient_norms",
    my_gradient_norms,
    checks.check_gradient_norms,
    model,
    x_batch,
    y_batch,
)

my_norms = my_gradient_norms(model, x_batch, y_batch)
for i, g in enumerate(my_norms, start=1):
    print(f"layer {i}: ||dL/dW|| = {g:.3e}")
measured_factor = checks.check_measured_profile(my_norms, depth, n_var_w)
bound = G.sigmoid_layer_factor_bound(n_var_w)
assert 0.8 * bound < measured_factor < 1.15 * bound  # close to the bound (one network)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# The measured factor per layer is close to the bound: the pre-activations are small at this init,
# so $\sigma'(z)$ is close to its maximum $1/4$ for most units and the bound is nearly tight. For one
# network it can even exceed the bound a little, since the bound holds on average over random
# initialisations (the chapter averages three and lands just under it).
# The layer-1 ratio differs somewhat from the prediction because layer 1 sees the data, whose
# norm differs from that of a layer of sigmoid outputs.


# %% [markdown]
# ## Task 4: explore
#
# Move the controls: depth, activation and initialisation. The plot shows the weight-gradient norm of
# every hidden layer at initialisation (one seed, 512 samples), and for sigmoid the bound
# $\sqrt{n\,\mathrm{Var}[W]/16}$ per layer drawn from the last layer down (for the default init only).
# Things to try: does any init make the sigmoid profile level? What does Kaiming init do to the
# *height* of the ReLU profile as depth grows, compared with the default?


# %%
def draw(depth: int, activation: str, init: str) -> None:
    norms = G.init_gradient_profile(
        activation, depth, x_batch, y_batch, width=64, init=init, seeds=(0,)
    )
    fig, ax = plt.subplots()
    rc.plots.layer_profile(
        {activation: norms},
        ylabel=r"$\|\partial L/\partial W_\ell\|$ (log scale)",
        title=f"{activation}, depth {depth}, init {init}: gradient per layer",
        ax=ax,
        activations={activation: activation},  # the line in its activation's colour
    )
    if activation == "sigmoid" and init == "pytorch_default":
        bound = G.sigmoid_layer_factor_bound(1 / 3)
        layers = range(1, depth + 1)
        ax.plot(
            layers,
            [norms[-1] * bound ** (depth - k) for k in layers],
            color="gray",
            linestyle=":",
            label=r"bound: $\times\sqrt{1/48}$ per layer",
        )
        ax.legend()
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    plt.show()
    print(f"layer 1 / layer {depth}: {G.first_to_last(norms):.2e}")


rc.book.explorer.explore(
    draw,
    depth=(2, 20, 1),
    activation=["sigmoid", "tanh", "relu"],
    init=["pytorch_default", "xavier_normal", "kaiming_normal"],
)


# %% [markdown]
# <details><summary>What you should find</summary>
#
# * **sigmoid**: a straight line on the log scale with every init offered; the slope changes with the
#   init, but none of these makes it level. Each layer scales $\|\delta\|$ by about $\sqrt{\chi}$,
#   where $\chi = n\,\mathrm{Var}[W]\,\mathbb{E}[\sigma'(z)^2]$ at the pre-activations' fixed point
#   (chapter 2, section 1). Larger weights raise $\chi$, but slowly, because they also spread the
#   pre-activations into the flatter parts of $\sigma$: at $n\,\mathrm{Var}[W] = 16$, where the bound
#   $\sigma' \le 1/4$ would first allow a gain of 1, $\chi$ is well below 1, and with zero biases it
#   reaches 1 only near $n\,\mathrm{Var}[W] \approx 100$, far above any standard scheme. At that scale
#   the profile is level (the cell below checks it), but chapter 2 shows why that network is still a
#   poor one: most units are near-binary and the forward signal keeps little of the input.
# * **tanh** and **ReLU** with the default init: level profiles whose height sinks as you add
#   layers (the forward signal fades). With `kaiming_normal` (each activation's own gain) the height
#   stays put: that is the subject of the Kaiming chapter.
# </details>
#
# The cell below checks those statements at depths 5 and 20 (seed 0), so they stay true, including
# that the measured per-layer factor of the sigmoid profiles is $\sqrt{\chi}$ of each init's scale:


# %%
summary = {}
for init in ("pytorch_default", "xavier_normal", "kaiming_normal"):
    for act in ("sigmoid", "tanh", "relu"):
        p5, p20 = (
            G.init_gradient_profile(act, d, x_batch, y_batch, init=init, seeds=(0,))
            for d in (5, 20)
        )
        summary[(act, init)] = (G.first_to_last(p20), p20[-1] / p5[-1])
        print(
            f"{act:8s} {init:16s} depth 20: "
            f"layer 1 / layer 20 = {summary[(act, init)][0]:8.1e}, "
            f"last-layer height depth 20 / depth 5 = {summary[(act, init)][1]:8.1e}"
        )

# sigmoid: the measured per-layer factor against sqrt(chi) at each init's scale, and at
# unit gain
unit = G.unit_gain_n_var("sigmoid")
chi16 = G.backward_gain("sigmoid", 16.0)
print(f"chi at n Var[W] = 16: {chi16:.2f}; chi reaches 1 at n Var[W] = {unit:.0f}")
scales = {}
for init in ("pytorch_default", "xavier_normal", "kaiming_normal"):
    scales[init] = (
        init,
        {},
        G.model_n_var(
            rc.ModelConfig(width=64, depth=3, activation="sigmoid", init=init)
        ),
    )
kaiming_n_var = scales["kaiming_normal"][2]
scales["unit gain"] = (
    "kaiming_normal",
    {"init_kwargs": {"scale": (unit / kaiming_n_var) ** 0.5}},
    unit,
)
factors = {}
for name, (init, extra, n_var) in scales.items():
    p20 = G.init_gradient_profile(
        "sigmoid", 20, x_batch, y_batch, init=init, seeds=(0,), **extra
    )
    factors[name] = (
        G.per_layer_factor(p20),
        G.backward_gain("sigmoid", n_var) ** 0.5,
        G.first_to_last(p20),
    )
    print(
        f"sigmoid, {name:16s} n Var[W] = {n_var:6.2f}: "
        f"per-layer factor {factors[name][0]:.3f}, "
        f"sqrt(chi) = {factors[name][1]:.3f}, "
        f"layer 1 / layer 20 = {factors[name][2]:.1e}"
    )

assert all(
    summary[("sigmoid", i)][0] < 1e-6
    for i in ("pytorch_default", "xavier_normal", "kaiming_normal")
)
# the factor is sqrt(chi)
assert all(abs(f / s - 1) < 0.15 for f, s, _ in factors.values())
assert chi16 < 0.5 and 90 < unit < 115
assert factors["unit gain"][2] > 1e-2  # unit gain: nearly level
for act in ("tanh", "relu"):
    assert 0.1 < summary[(act, "pytorch_default")][0] < 10  # level ...
    assert summary[(act, "pytorch_default")][1] < 1e-2  # ... but sinking with depth
    # Kaiming: the height stays put
    assert 0.1 < summary[(act, "kaiming_normal")][1] < 10


# %% [markdown]
# Next: the chapter's sections on training at depth and on BatchNorm, and the ReLU lab.
