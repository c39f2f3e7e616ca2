"""Closed forms and at-initialisation measurements, one module per subject of the course.

``saturation`` (chapter 2: sigmoid saturation and vanishing gradients, and what sigmoid costs),
``dead_relu`` (chapter 3: zeros at init, born-dead networks), ``softplus`` (chapter 4),
``kaiming`` (chapter 5: variance propagation and initialisation).
"""

from relucourse._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, globals())
