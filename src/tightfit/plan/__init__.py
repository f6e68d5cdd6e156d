"""Plan before you run: predict a training step's peak memory, name the binding constraint, search configs.

>>> from tightfit.plan import estimate
"""

from tightfit.plan.estimate import Estimate, estimate

__all__ = ["Estimate", "estimate"]
