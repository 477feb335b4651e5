"""Learning-rate schedules: η as a function of the update count i (0, 1, 2, …).

* constant:     η_i = η₀
* step decay:   η_i = η₀ / (1 + i τ)
* exponential:  η_i = η₀ e^{−i τ}
* cosine:       η_i = η_min + ½ (η₀ − η_min) (1 + cos(π min(i, T) / T)), T = total updates

Any of them can start with a linear ramp-up over ``warmup`` updates, η_i × (i + 1) / warmup,
which keeps Adam's first large steps from wrecking a fresh initialisation.
"""

from __future__ import annotations

import math

from pipeline.nn.exceptions import NetworkParamsError


def step_decay(i, *, lr0, decay):
    """η₀ / (1 + i τ)."""
    return lr0 / (1.0 + i * decay)


def exponential_decay(i, *, lr0, decay):
    """η₀ e^{−i τ}."""
    return lr0 * math.exp(-i * decay)


def cosine_decay(i, *, lr0, total, lr_min=0.0):
    """η_min + ½ (η₀ − η_min)(1 + cos(π min(i, T)/T))."""
    frac = min(i, total) / max(total, 1)
    return lr_min + 0.5 * (lr0 - lr_min) * (1.0 + math.cos(math.pi * frac))


def linear_warmup(i, *, warmup):
    """The ramp-up factor (i + 1) / warmup, 1 once i ≥ warmup."""
    return 1.0 if i >= warmup else (i + 1) / warmup


class Schedule:
    """η_i for one of the named schedules.

    Parameters
    ----------
    name : {"constant", "step", "exponential", "cosine"}
    lr0 : float
        Initial learning rate η₀.
    decay : float
        τ of the step and exponential schedules.
    total : int
        T of the cosine schedule (total number of updates).
    lr_min : float
        Floor of the cosine schedule.
    warmup : int
        Length of the linear ramp-up, in updates (0 = none).
    """

    names = ("constant", "step", "exponential", "cosine")

    def __init__(self, name, *, lr0, decay=0.0, total=1, lr_min=0.0, warmup=0):
        if name not in self.names:
            raise NetworkParamsError(
                f"unknown learning_rate {name!r}; choose one of {list(self.names)}"
            )
        self.name, self.lr0, self.decay = name, float(lr0), float(decay)
        self.total, self.lr_min, self.warmup = int(total), float(lr_min), int(warmup)

    def __call__(self, i):
        """The learning rate of update ``i``."""
        if self.name == "constant":
            lr = self.lr0
        elif self.name == "step":
            lr = step_decay(i, lr0=self.lr0, decay=self.decay)
        elif self.name == "exponential":
            lr = exponential_decay(i, lr0=self.lr0, decay=self.decay)
        else:
            lr = cosine_decay(i, lr0=self.lr0, total=self.total, lr_min=self.lr_min)
        if self.warmup:
            lr *= linear_warmup(i, warmup=self.warmup)
        return lr
