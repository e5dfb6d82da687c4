"""The confidence model's own multinomial fit: the same optimum as scikit-learn's, from any
start (so cross-fits that start from the last fit's weights give the same figures)."""

from __future__ import annotations

import numpy as np

from mappings.suggest.softmax import fit_softmax


def _data(n: int = 400, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    logits = x @ rng.normal(size=(6, 4))
    y = np.array([rng.choice([0, 2, 5, 7], p=np.exp(r) / np.exp(r).sum()) for r in logits])
    return x, y.astype(np.int64)


def test_it_finds_scikit_learns_optimum() -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = _data()
    for c in (0.1, 10.0):
        ours = fit_softmax(x, y, c)
        theirs = LogisticRegression(C=c, max_iter=5000, tol=1e-8).fit(x, y)
        assert list(ours.classes) == list(theirs.classes_)
        assert np.abs(ours.probabilities(x) - theirs.predict_proba(x)).max() < 2e-3


def test_a_warm_start_reaches_the_same_answer_and_maps_classes_by_label() -> None:
    x, y = _data()
    cold = fit_softmax(x, y, 1.0)
    fold = np.arange(len(y)) % 10 != 0
    warm = fit_softmax(x[fold], y[fold], 1.0, start=cold)
    again = fit_softmax(x[fold], y[fold], 1.0)
    assert np.abs(warm.probabilities(x) - again.probabilities(x)).max() < 5e-3
    few = y[fold] != 7  # a fold without one class: the start's other rows still line up
    part = fit_softmax(x[fold][few], y[fold][few], 1.0, start=cold)
    assert list(part.classes) == [0, 2, 5]
    ref = fit_softmax(x[fold][few], y[fold][few], 1.0)
    assert np.abs(part.probabilities(x) - ref.probabilities(x)).max() < 5e-3
