"""The "Fix the broken network" lab, solved: the single source of labs/08_fix_the_network_lab.ipynb
and of its references.

Edit this file, not the notebook, then run ``python -m relucourse.labs.build`` from the repository
root. Format and markers: ``relucourse.labs.source``.
"""


# %% [markdown]
# # Lab: fix the broken network
#
# In the chapter [Diagnosing activation problems](../chapters/08_diagnostics) every network came
# with its diagnosis. Here you get four networks, each broken for a different reason, and make the
# diagnosis yourself. For each one:
#
# 1. run `dg.diagnose` on it and read the measurements: the table and the panel (the flags that
#    `diagnose` would raise are hidden in this lab; that part is your job);
# 2. name the cause, one of the four printed below (`CAUSE_A = "..."`);
# 3. fix it: a copy of the broken configuration with at most three settings changed
#    (`FIX_A = BROKEN["A"].replace(**{"section.field": value})`). Change the network or the
#    learning rate, not the experiment: the data, the number of steps, the batch size and the seed
#    stay as they are.
#
# The checkers verify that the cause is right (a wrong one gets a hint built from your network's
# own measurements) and that your fix **trains**: within the broken network's own 200 SGD steps
# its final training loss must fall below 1.5 (printed as `checks.LOSS_THRESHOLD`), and its
# diagnosis must no longer show the problem.
#
# Each exercise cell starts with its answers left as `...`. Until you write them, the cell prints a
# `[skipped]` line, checks the course's reference answer instead and the lab goes on with it, so
# the page runs from top to bottom. Solutions are hidden under **Solution**.

# %%
import matplotlib.pyplot as plt

import relucourse as rc
from relucourse import diagnose as dg
from relucourse.labs.checks import diagnostics as checks

rt = rc.setup(seed=0)
# references for unwritten answers
lab = rc.labs.exercise.Lab("08_fix_the_network_lab", globals())
data = rc.data.load_dataset("mnist1d", device=rt.device)

# A healthy starting point (4 ReLU layers of 64 units, Kaiming init, SGD with momentum
# 0.9 at a learning rate of 0.05, 200 steps) and four networks, each one change away
# from it.
BASE, BROKEN = checks.BASE, checks.BROKEN
for name, cfg in BROKEN.items():
    print(f"network {name}: BASE with {checks.differences(cfg)}")
print("\nthe causes to choose from:")
for cause, meaning in checks.CAUSES.items():
    print(f"  {cause:10s} {meaning}")
print(
    f"a fix must reach a final training loss below {checks.LOSS_THRESHOLD} in "
    f"{BASE.train.steps} steps"
)


# %% [markdown]
# ## Network A
#
# Run the diagnosis and read it. The panel: output histograms at the first and last check,
# gradient histograms, the saturated (or dead) fraction per layer over training, the update:data
# ratio with its $10^{-3}$ guide line, the weight-gradient norm per layer, and the training loss
# against $\ln C$.


# %%
diag_A = dg.diagnose(BROKEN["A"], data=data, every=20)
print(diag_A.summary(flags=False))
diag_A.plot("network A (seed 0)", flags=False)
plt.show()


# %%
### BEGIN SOLUTION: the cause, and a fixed copy of BROKEN["A"]
CAUSE_A = "saturated"  # one of checks.CAUSES
FIX_A = BROKEN["A"].replace(
    **{
        "model.activation": "relu",
        "model.init": "kaiming_normal",
        "model.init_kwargs": {},
    }
)
### END SOLUTION

CAUSE_A = lab.checked("CAUSE_A", CAUSE_A, checks.check_cause, "A", diag_A)
FIX_A = lab.checked("FIX_A", FIX_A, checks.check_fix, "A", BROKEN["A"], data)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# Weights drawn from $\mathcal N(0, 1)$ make each pre-activation a sum of 40 or 64 terms of unit
# variance, so the sigmoid units sit far out on their tails: the 'saturated' column shows a large
# share of every layer's outputs within 0.03 of 0 or 1, the histograms have spikes at both ends, and
# the initial loss is far above $\ln C$. Shrinking the init alone (`"model.init": "xavier_normal"`)
# removes the saturation; try it, and read what the checker says about the sigmoid stack that is
# left (chapter 2's vanishing gradient). Switching to ReLU *with* its matched init fixes both. What
# does `diagnose` say about ReLU with the $\mathcal N(0, 1)$ weights kept?


# %% [markdown]
# ## Network B


# %%
diag_B = dg.diagnose(BROKEN["B"], data=data, every=20)
print(diag_B.summary(flags=False))
diag_B.plot("network B (seed 0)", flags=False)
plt.show()


# %%
### BEGIN SOLUTION: the cause, and a fixed copy of BROKEN["B"]
CAUSE_B = "dead"  # one of checks.CAUSES
FIX_B = BROKEN["B"].replace(**{"model.bias_init": 0.0})
### END SOLUTION

CAUSE_B = lab.checked("CAUSE_B", CAUSE_B, checks.check_cause, "B", diag_B)
FIX_B = lab.checked("FIX_B", FIX_B, checks.check_fix, "B", BROKEN["B"], data)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# Every bias starts at $-1.5$, so a unit fires only where its weighted input exceeds 1.5: in the
# deeper layers many units are zero on every probe input (the dead-units panel, and output
# histograms with all their mass at 0), and dead units get no gradient to climb back.
# Zero biases fix it. Compare `"model.activation": "leaky_relu"`: no unit can be exactly dead, but
# does it train below the threshold with the biases still at $-1.5$?


# %% [markdown]
# ## Network C


# %%
diag_C = dg.diagnose(BROKEN["C"], data=data, every=20)
print(diag_C.summary(flags=False))
diag_C.plot("network C (seed 0)", flags=False)
plt.show()


# %%
### BEGIN SOLUTION: the cause, and a fixed copy of BROKEN["C"]
CAUSE_C = "exploding"  # one of checks.CAUSES
FIX_C = BROKEN["C"].replace(**{"model.init": "kaiming_normal", "model.init_kwargs": {}})
### END SOLUTION

CAUSE_C = lab.checked("CAUSE_C", CAUSE_C, checks.check_cause, "C", diag_C)
FIX_C = lab.checked("FIX_C", FIX_C, checks.check_fix, "C", BROKEN["C"], data)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# With $W \sim \mathcal N(0, 0.4^2)$ and 64 inputs per unit, $n \operatorname{Var}[W] = 10$, five
# times Kaiming's 2: each ReLU layer multiplies the signal's second moment by about 5, the rms grows
# from layer to layer, and the initial loss is huge. The first SGD steps are correspondingly large and
# kill many units, so by the end of the window the network also shows dead units: a symptom, not the
# cause. Kaiming init removes the cause. Try the others too: `"model.batchnorm": True` also trains;
# `"train.clip_norm": 1.0` keeps the steps bounded, but does it get the loss below the threshold?


# %% [markdown]
# ## Network D


# %%
diag_D = dg.diagnose(BROKEN["D"], data=data, every=20)
print(diag_D.summary(flags=False))
diag_D.plot("network D (seed 0)", flags=False)
plt.show()


# %%
### BEGIN SOLUTION: the cause, and a fixed copy of BROKEN["D"]
CAUSE_D = "symmetric"  # one of checks.CAUSES
FIX_D = BROKEN["D"].replace(**{"model.init": "xavier_normal", "model.init_kwargs": {}})
### END SOLUTION

CAUSE_D = lab.checked("CAUSE_D", CAUSE_D, checks.check_cause, "D", diag_D)
FIX_D = lab.checked("FIX_D", FIX_D, checks.check_fix, "D", BROKEN["D"], data)


# %% [markdown] tags=["solution"]
# <!-- solution code -->
#
# Every weight starts at 0.01, so all units of a layer compute the same output (the 'identical'
# column), get the same gradient, and stay identical: each layer is as good as one unit. Nothing
# else looks wrong, which is what makes this failure easy to miss: the loss does go down, just not
# far. Any random init breaks the symmetry; Xavier suits tanh.


# %% [markdown]
# ## Compare
#
# What `diagnose` itself says about the four broken networks, now that you have made your own
# diagnoses. Which flags are causes and which are symptoms?


# %%
for name, d in {"A": diag_A, "B": diag_B, "C": diag_C, "D": diag_D}.items():
    print(f"network {name}: flags {', '.join(d.kinds)}")
