"""The suggester: TF-IDF over the organisation's linked epics, one centroid per key result,
and a confidence model stacked on the centroids' similarities.

Why a centroid per KR (Rocchio) as the first stage: it learns from a handful of examples,
starts from the KR's own words, is deterministic for a given store, and its leave-one-out
answer is exact and cheap (remove one epic's vector from its KR's sum), so `suggest
--evaluate` measures the very model that suggests, on 50,000 epics in seconds.

Why a second stage: cosine similarity to a centroid knows nothing of how often each KR is
chosen nor of how similar its neighbours are, so two KRs of one theme look alike and the
rarer one wins as often as the usual one. A multinomial logistic regression over each epic's
leave-one-out similarities to every KR (and how far each is behind the best) learns both,
and its probability is the confidence: "0.8" means about 8 in 10 such suggestions named the
KR the organisation had chosen. Epics declared run/maintenance work are a class of their own
("serves no KR"), so what resembles them loses confidence. Its regularisation is chosen by
cross-validated log-loss on the training rows (once per model; `suggest --evaluate`
refits the weights without each fold but keeps it), never by the threshold's figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from core.model import Catalog, Ticket
from mappings.suggest.features import LABEL, Prefixes, kr_text, make_analyzer, texts, words
from mappings.suggest.ranker import (
    TOP,
    Evidence,
    Neighbour,
    Ranked,
    Ranker,
    Stacker,
    stack_features,
    unit_rows,
)
from mappings.suggest.softmax import Softmax, fit_softmax

__all__ = ["TOP", "Evidence", "Example", "LeaveOneOut", "Neighbour", "Ranked", "Suggester",
           "choose_strength", "fit", "fit_stacker"]

PRIOR_WEIGHT = 1.0
"""The KR's own text counts as this many linked epics."""
MAX_DF = 0.5
"""Words in more than half of the epics (a template's "Context:", the biggest project) say
nothing about which KR an epic serves; dropping them keeps generic epics from looking close."""
MEMBERS_CAP = 1000
"""Nearest-epic evidence looks at most this many evenly spaced examples per KR (memory and
time bound: the kept model's size and a sync's evidence time grow with it)."""
C_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)
"""Inverse regularisation strengths the confidence model chooses from."""
CV_FOLDS = 3
CV_ROWS = 1500
"""The regularisation is chosen on at most this many evenly spaced rows (time bound)."""
FIT_ROWS = 6000
"""The confidence model is fitted on at most this many evenly spaced rows: it has a few
dozen weights, which that many examples pin down (time and memory bound)."""

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Example:
    """A linked epic: an example of its key result (`team` is the owning team, if any)."""

    ticket: Ticket
    team: str | None
    kr_id: str


@dataclass(frozen=True)
class LeaveOneOut:
    """Each example's similarities to every KR with itself (and its labels) withheld, and its
    real KR's index."""

    scores: Floats
    truth: Ints

    @property
    def ranked(self) -> tuple[tuple[int, ...], ...]:
        """KR indexes by similarity alone, best first (ties: KR id order)."""
        order = np.argsort(-self.scores, axis=1, kind="stable")[:, :TOP]
        return tuple(tuple(int(v) for v in row) for row in order)


class Suggester:
    """A fitted model. Build it with `fit`; it never changes after. `ranker` is all a sync
    needs of it; the rest (the examples and their leave-one-out) serves `suggest --evaluate`."""

    def __init__(self, ranker: Ranker, x: sparse.csr_matrix, labels: Ints,
                 sums: sparse.csr_matrix, examples: Sequence[Example],
                 negative_scores: Floats) -> None:
        self.ranker = ranker
        self.kr_ids = ranker.kr_ids
        self.x = x
        self.labels = labels
        self.sums = sums
        self.examples = tuple(examples)
        self.negative_scores = negative_scores
        self.loo = self._leave_one_out()
        self.strength: float | None = None
        """The confidence model's regularisation, chosen once for these examples."""
        self.fitted: Softmax | None = None
        """The confidence model on all of them: where the cross-fits start from."""

    def rank(self, tickets: Sequence[Ticket], teams: Sequence[str | None]) -> list[Ranked]:
        return self.ranker.rank(tickets, teams)

    def evidence(self, tickets: Sequence[Ticket], teams: Sequence[str | None],
                 kr_ids: Sequence[str], **kw: Any) -> list[Evidence]:
        return self.ranker.evidence(tickets, teams, kr_ids, **kw)

    def leave_one_out(self) -> LeaveOneOut:
        """Exact leave-one-out: each example scored against the KR sums without itself, its
        own labels hidden from it (computed once, when the model is fitted)."""
        return self.loo

    def stacker(self, rows: Ints | None = None) -> Stacker:
        """The confidence model fitted on these examples' leave-one-out similarities (only
        `rows` of them, if given) and on every declared run/maintenance epic."""
        loo = self.loo
        if self.strength is None:
            self.strength = choose_strength(loo.scores, loo.truth, self.negative_scores,
                                            len(self.kr_ids))
        everything = rows is None
        if rows is None:
            rows = np.arange(len(loo.truth))
        stacker, fitted = fit_stacker(loo.scores[rows], loo.truth[rows], self.negative_scores,
                                      len(self.kr_ids), self.strength, start=self.fitted)
        if everything:
            self.fitted = fitted
        return stacker

    def _leave_one_out(self) -> LeaveOneOut:
        n = self.x.shape[0]
        if n == 0:
            return LeaveOneOut(np.zeros((0, len(self.kr_ids))), np.zeros(0, dtype=np.int64))
        q = unit_rows(_hide_labels(self.x, self.ranker.terms))
        dots = np.asarray((q @ self.sums.T).todense())
        own = np.asarray(q.multiply(self.x).sum(axis=1)).ravel()
        rows = np.arange(n)
        x_dot_sum = np.asarray((self.x @ self.sums.T).todense())[rows, self.labels]
        norms2 = np.asarray(self.sums.multiply(self.sums).sum(axis=1)).ravel()
        norms = np.tile(np.sqrt(norms2), (n, 1))
        dots[rows, self.labels] -= own
        norms[rows, self.labels] = np.sqrt(
            np.maximum(norms2[self.labels] - 2 * x_dot_sum + 1.0, 1e-12))
        return LeaveOneOut(dots / np.maximum(norms, 1e-12), self.labels.copy())


def _hide_labels(x: sparse.csr_matrix, terms: Sequence[str]) -> sparse.csr_matrix:
    """`x` with the label columns zeroed: what an epic looks like without its labels."""
    label_columns = np.flatnonzero(np.char.startswith(np.asarray(terms, dtype=str), LABEL))
    q = sparse.csr_matrix(x, copy=True)
    q.data[np.isin(q.indices, label_columns)] = 0.0
    return q


def fit(examples: Sequence[Example], catalog: Catalog, prefixes: Prefixes,
        negatives: Sequence[tuple[Ticket, str | None]] = ()) -> Suggester:
    """Learn from the linked epics (any order: they are sorted, so the model is the same);
    `negatives` (epic, team) are epics known to serve no KR."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    kr_ids = tuple(sorted(kr.id for kr in catalog.key_results))
    index = {k: i for i, k in enumerate(kr_ids)}
    chosen = sorted((e for e in examples if e.kr_id in index),
                    key=lambda e: (e.ticket.source, e.ticket.key, e.kr_id))
    docs = texts([e.ticket for e in chosen], [e.team for e in chosen], prefixes)
    priors = [kr_text(kr, catalog) for kr in sorted(catalog.key_results, key=lambda k: k.id)]
    analyze = make_analyzer(words)

    def analyzer(doc: str) -> list[str]:
        return [t for t in analyze(doc) if t not in ENGLISH_STOP_WORDS]

    vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float64, max_df=MAX_DF,
                                 analyzer=analyzer)
    both = vectorizer.fit_transform(docs + priors).tocsr()
    x, prior = both[:len(docs)], both[len(docs):]
    labels = np.array([index[e.kr_id] for e in chosen], dtype=np.int64)
    onehot = sparse.csr_matrix(
        (np.ones(len(chosen)), (labels, np.arange(len(chosen)))), shape=(len(kr_ids), len(chosen)))
    sums = sparse.csr_matrix(onehot @ x + PRIOR_WEIGHT * prior)
    centroids = unit_rows(sums)
    terms = tuple(str(t) for t in vectorizer.get_feature_names_out())
    members = np.sort(np.concatenate(
        [mine[_evenly(len(mine), MEMBERS_CAP)]
         for mine in (np.flatnonzero(labels == k) for k in range(len(kr_ids)))]
        or [np.zeros(0, dtype=np.int64)])).astype(np.int64)
    draft = Ranker(kr_ids, terms, np.asarray(vectorizer.idf_, dtype=np.float64), centroids,
                   Stacker(np.zeros((1, 2 * len(kr_ids))), np.zeros(1),
                           np.zeros(1, dtype=np.int64), len(kr_ids)),
                   sparse.csr_matrix(x[members]), labels[members],
                   tuple((chosen[i].ticket.source, chosen[i].ticket.key, chosen[i].ticket.title)
                         for i in members.tolist()), prefixes, len(chosen))
    negatives = sorted(negatives, key=lambda n: (n[0].source, n[0].key))
    negative_scores = np.zeros((0, len(kr_ids)))
    if negatives and kr_ids:
        q = draft.vectors([t for t, _ in negatives], [team for _, team in negatives])
        negative_scores = draft.similarities(unit_rows(_hide_labels(q, terms)))
    model = Suggester(draft, x, labels, sums, chosen, negative_scores)
    model.ranker = replace(draft, stacker=model.stacker())
    return model


def _evenly(n: int, cap: int) -> Ints:
    """At most `cap` of `n` row indexes, evenly spaced (deterministic)."""
    if n <= cap:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, cap).round().astype(np.int64))


def _rows(scores: Floats, truth: Ints, negative_scores: Floats,
          kr_count: int) -> tuple[Floats, Ints]:
    x = stack_features(np.vstack((scores.reshape(-1, kr_count),
                                  negative_scores.reshape(-1, kr_count))))
    y = np.concatenate((truth, np.full(len(negative_scores), kr_count))).astype(np.int64)
    return x, y


def choose_strength(scores: Floats, truth: Ints, negative_scores: Floats,
                    kr_count: int) -> float:
    """The confidence model's `C`, by cross-validated log-loss on at most `CV_ROWS` rows."""
    x, y = _rows(scores, truth, negative_scores, kr_count)
    if len(np.unique(y)) < 2:
        return C_GRID[0]
    cv = _evenly(len(y), CV_ROWS)
    return _choose_c(x[cv], y[cv])


def fit_stacker(scores: Floats, truth: Ints, negative_scores: Floats, kr_count: int,
                strength: float, start: Softmax | None = None) -> tuple[Stacker, Softmax | None]:
    """The confidence model on leave-one-out similarities (`truth`: each row's KR index) and
    on epics known to serve no KR (class `kr_count`), regularised by `strength` (`C`), its
    fit starting from `start`; and the fitted weights (None when there was nothing to fit)."""
    x_all, y_all = _rows(scores, truth, negative_scores, kr_count)
    classes = np.unique(y_all)
    if len(classes) < 2:
        # One answer seen so far: right as often as the rule of succession allows; the
        # other class is a placeholder that names no KR.
        p = (len(y_all) + 1) / (len(y_all) + 2)
        seen = int(classes[0]) if len(classes) else kr_count
        return Stacker(np.zeros((2, x_all.shape[1])), np.array([np.log(p / (1 - p)), 0.0]),
                       np.array([seen, kr_count + 1], dtype=np.int64), kr_count), None
    rows = _evenly(len(y_all), FIT_ROWS)
    lr = fit_softmax(x_all[rows], y_all[rows], strength, start)
    return Stacker(lr.coef, lr.intercept, lr.classes, kr_count), lr


def _choose_c(x: Floats, y: Ints) -> float:
    """The regularisation with the lowest cross-validated log-loss (folds by position; ties:
    the stronger regularisation). Each fold's fits run from the strongest regularisation to
    the weakest, each starting from the last one's weights."""
    classes = np.unique(y)
    col = {int(c): i for i, c in enumerate(classes)}
    fold = np.arange(len(y)) % CV_FOLDS
    losses = np.zeros(len(C_GRID))
    counts = np.zeros(len(C_GRID))
    for f in range(CV_FOLDS):
        train, test = fold != f, fold == f
        if len(np.unique(y[train])) < 2 or not test.any():
            continue
        last: Softmax | None = None
        for i, c in enumerate(C_GRID):
            last = fit_softmax(x[train], y[train], c, last)
            p = np.full((int(test.sum()), len(classes)), 1e-6)
            p[:, [col[int(k)] for k in last.classes]] = last.probabilities(x[test])
            truth = p[np.arange(len(p)), [col[int(k)] for k in y[test]]]
            losses[i] -= float(np.log(np.clip(truth, 1e-6, 1.0)).sum())
            counts[i] += len(truth)
    best, best_loss = C_GRID[0], np.inf
    for c, loss, count in zip(C_GRID, losses, counts, strict=True):
        if count and loss / count < best_loss - 1e-9:
            best, best_loss = c, loss / count
    return best
