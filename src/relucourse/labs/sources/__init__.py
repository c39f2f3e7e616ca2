"""The labs' single sources: one file per lab, ``<lab>.py``, the solved lab in percent format.

``relucourse.labs.build`` generates ``labs/<lab>.ipynb`` from each, and ``relucourse.labs.exercise``
runs the references from them; the format is described in ``relucourse.labs.source``. The file
names start with a digit, so they cannot be imported by accident (importing one would run its lab).
"""
