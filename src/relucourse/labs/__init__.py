"""What the labs need beyond the chapters' modules.

* ``sources/<lab>.py``: each lab written once, solved (the single source of its exercises);
* ``source``: reads a lab source (format, markers, exercises); ``build``: generates the learner
  notebooks ``labs/<lab>.ipynb`` from the sources (``python -m relucourse.labs.build [--check]``);
* ``exercise``: ``Lab(...).checked`` checks the learner's answer, or the source's reference while
  the exercise is still a stub; ``checks.<subject>``: the friendly checkers.
"""

from relucourse._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, globals())
