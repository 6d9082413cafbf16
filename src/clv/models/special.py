"""Numerically stable elementary functions shared by the models."""

from __future__ import annotations

import numpy as np


def softplus(d: np.ndarray) -> np.ndarray:
    """log(1 + e^d) without overflow, as max(d, 0) + log1p(e^-|d|) (0 at d = -inf).

    Same value as np.logaddexp(0, d), several times faster on large arrays.
    """
    return np.maximum(d, 0.0) + np.log1p(np.exp(-np.abs(d)))
