"""Checks shared by the model tests of the fused value/gradient and analytic Hessian hooks."""

from __future__ import annotations

import numpy as np
import pytest


def assert_fused_equals_per_row(model, params: np.ndarray, data, weights: np.ndarray) -> None:
    """The fused weighted value and gradient equal the weighted sums of the per-row hooks."""
    value, grad = model._weighted_log_likelihood_and_gradient(params, data, weights)
    assert value == pytest.approx(weights @ model._log_likelihood_terms(params, data), rel=1e-12)
    per_row = weights @ model._log_likelihood_gradient(params, data)
    assert grad == pytest.approx(per_row, rel=1e-10, abs=1e-9)
    assert model._weighted_gradient(params, data, weights) == pytest.approx(grad, rel=1e-15)


def fused_central_differences(model, params: np.ndarray, data, weights: np.ndarray,
                              step: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """(gradient, Hessian) by central differences of the fused value and gradient.

    Each parameter moves by the relative ``step``; column j of the Hessian is the
    difference of the fused gradients.
    """
    k = params.shape[0]
    gradient, hessian = np.empty(k), np.empty((k, k))
    for j in range(k):
        up, down = params.copy(), params.copy()
        up[j] *= 1 + step
        down[j] *= 1 - step
        value_up, grad_up = model._weighted_log_likelihood_and_gradient(up, data, weights)
        value_down, grad_down = model._weighted_log_likelihood_and_gradient(down, data, weights)
        gradient[j] = (value_up - value_down) / (2 * step * params[j])
        hessian[:, j] = (grad_up - grad_down) / (2 * step * params[j])
    return gradient, hessian


def assert_fused_follows_new_data(model, params: np.ndarray, data, weights: np.ndarray) -> None:
    """A second call on other rows (reversed, T shifted) is computed afresh, not served from a cache."""
    first = model._weighted_log_likelihood_and_gradient(params, data, weights)
    shifted = {k: v[::-1].copy() for k, v in data.items()}
    shifted["T"] = shifted["T"] + 5.0
    second = model._weighted_log_likelihood_and_gradient(params, shifted, weights)
    assert second[0] != pytest.approx(first[0], rel=1e-6)
    assert second[0] == pytest.approx(weights @ model._log_likelihood_terms(params, shifted), rel=1e-12)
    assert second[1] == pytest.approx(weights @ model._log_likelihood_gradient(params, shifted), rel=1e-10)
