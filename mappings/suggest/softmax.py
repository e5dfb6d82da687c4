"""Multinomial logistic regression (the confidence model's fit), in numpy/scipy.

The same model and objective as scikit-learn's `LogisticRegression(C=...)` with the lbfgs
solver: mean log-loss plus `|W|^2 / (2 C n)`, intercepts not penalised. Written out here so a
fit can start from another fit's weights: `suggest --evaluate` cross-fits the confidence
model ten times and choosing its regularisation fits it fifteen times more, on nearly the
same rows each time, and starting each from the last answer cuts the iterations several
fold for the same optimum (within the solver's tolerance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

TOLERANCE = 1e-4
"""Stop when the largest gradient component is below this (scikit-learn's default `tol`)."""
MAX_ITER = 2000


@dataclass(frozen=True)
class Softmax:
    """Fitted weights: `coef` (classes, features), `intercept` (classes,), `classes` the
    labels their rows stand for, ascending."""

    coef: Floats
    intercept: Floats
    classes: Ints

    def probabilities(self, x: Floats) -> Floats:
        """(rows, classes), columns in `classes` order."""
        logits = x @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float64)


def fit_softmax(x: Floats, y: Ints, strength: float, start: Softmax | None = None) -> Softmax:
    """The weights minimising the mean log-loss of `y` plus `|coef|^2 / (2 strength n)`,
    starting from `start`'s weights for the classes both know (else from zero)."""
    from scipy.optimize import minimize

    classes = np.unique(y)
    n, f = x.shape
    k = len(classes)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), np.searchsorted(classes, y)] = 1.0
    alpha = 1.0 / (strength * n)

    def loss(theta: Floats) -> tuple[float, Floats]:
        w, b = theta[:k * f].reshape(k, f), theta[k * f:]
        logits = x @ w.T + b
        logits -= logits.max(axis=1, keepdims=True)
        logz = np.log(np.exp(logits).sum(axis=1))
        value = float((logz - (logits * onehot).sum(axis=1)).mean())
        diff = (np.exp(logits - logz[:, None]) - onehot) / n
        grad_w = diff.T @ x + alpha * w
        return (value + 0.5 * alpha * float((w * w).sum()),
                np.concatenate((grad_w.ravel(), diff.sum(axis=0))))

    theta0 = np.zeros(k * f + k)
    if start is not None:
        at = {int(c): i for i, c in enumerate(start.classes)}
        for i, c in enumerate(classes.tolist()):
            if c in at:
                theta0[i * f:(i + 1) * f] = start.coef[at[c]]
                theta0[k * f + i] = start.intercept[at[c]]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # tiny products: on a shared 2-core machine several
        # BLAS threads per fit made it ten times slower (bench/README.md)
        result = minimize(loss, theta0, jac=True, method="L-BFGS-B",
                          options={"maxiter": MAX_ITER, "gtol": TOLERANCE, "ftol": 1e-12})
    theta = np.asarray(result.x, dtype=np.float64)
    return Softmax(theta[:k * f].reshape(k, f).copy(), theta[k * f:].copy(),
                   classes.astype(np.int64))
