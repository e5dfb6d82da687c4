"""The suggester: TF-IDF over the organisation's linked epics, one centroid per key result.

Why a centroid per KR (Rocchio, a linear model) rather than a fitted classifier: it learns
from a handful of examples, starts from the KR's own words, is deterministic for a given
store, and its leave-one-out answer is exact and cheap (remove one epic's vector from its
KR's sum), so `suggest --evaluate` measures the very model that suggests, on 50,000 epics in
seconds. Confidence is calibrated on those leave-one-out answers (Platt scaling: a logistic
regression of "was the top KR right" on the top score and its lead over the runner-up):
"0.8" means about 8 in 10 such suggestions named the KR the organisation had chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from core.model import Catalog, Ticket
from mappings.suggest.features import (
    LABEL,
    Prefixes,
    display_term,
    kr_text,
    make_analyzer,
    texts,
)

TOP = 3
PRIOR_WEIGHT = 1.0
"""The KR's own text counts as this many linked epics."""
MAX_DF = 0.5
"""Words in more than half of the epics (a template's "Context:", the biggest project) say
nothing about which KR an epic serves; dropping them keeps generic epics from looking close."""
MEMBERS_CAP = 3000
"""Nearest-epic evidence looks at most this many examples per KR (memory and time bound)."""

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Example:
    """A linked epic: an example of its key result (`team` is the owning team, if any)."""

    ticket: Ticket
    team: str | None
    kr_id: str


@dataclass(frozen=True)
class Ranked:
    """The top key results for one epic, best first, with calibrated confidences."""

    kr_ids: tuple[str, ...]
    confidences: tuple[float, ...]
    margin: float


@dataclass(frozen=True)
class Neighbour:
    source: str
    key: str
    title: str
    similarity: float


@dataclass(frozen=True)
class Evidence:
    """What a person can check: the closest linked epics of the KR and the deciding words."""

    neighbours: tuple[Neighbour, ...]
    words: tuple[str, ...]


@dataclass(frozen=True)
class LeaveOneOut:
    """Each example's answer with itself (and its labels) withheld; `truth` its real KR."""

    ranked: tuple[tuple[int, ...], ...]
    signals: Floats
    """Per example: (lead of the top KR over the runner-up, top score)."""
    truth: tuple[int, ...]


class Suggester:
    """A fitted model. Build it with `fit`; it never changes after."""

    def __init__(self, vectorizer: TfidfVectorizer, kr_ids: tuple[str, ...], x: sparse.csr_matrix,
                 labels: npt.NDArray[np.int64], sums: sparse.csr_matrix,
                 examples: Sequence[Example], prefixes: Prefixes,
                 negatives: Sequence[tuple[Ticket, str | None]] = ()) -> None:
        self.vectorizer = vectorizer
        self.kr_ids = kr_ids
        self.x = x
        self.labels = labels
        self.sums = sums
        self.centroids = normalize(sums)
        self.examples = tuple(examples)
        self.prefixes = prefixes
        self.terms = vectorizer.get_feature_names_out()
        self.label_columns = np.flatnonzero(np.char.startswith(self.terms.astype(str), LABEL))
        self.members = {
            k: np.flatnonzero(labels == k)[:MEMBERS_CAP] for k in range(len(kr_ids))
        }
        self.loo = self._leave_one_out()
        self.negative_signals = self._negative_signals(negatives)
        self.calibrator = self.calibrate(self.loo.signals, _hits(self.loo))

    # ----------------------------------------------------------------- ranking

    def vectors(self, tickets: Sequence[Ticket], teams: Sequence[str | None]) -> sparse.csr_matrix:
        return self.vectorizer.transform(texts(tickets, teams, self.prefixes))

    def rank(self, tickets: Sequence[Ticket], teams: Sequence[str | None]) -> list[Ranked]:
        """The top key results for each epic, best first."""
        if not tickets or not self.kr_ids:
            return [Ranked((), (), 0.0) for _ in tickets]
        scores = np.asarray((self.vectors(tickets, teams) @ self.centroids.T).todense())
        orders, signals = _orders(scores)
        confs = self.calibrator.predict(signals)
        confs[scores.max(axis=1) <= 0] = 0.0  # nothing in common with any KR: abstain
        return [Ranked(tuple(self.kr_ids[i] for i in order),
                       _shares(row, order, float(conf)), float(signal[0]))
                for row, order, signal, conf in zip(scores, orders, signals, confs, strict=True)]

    def confidence(self, signals: Floats) -> Floats:
        return self.calibrator.predict(signals)

    def calibrate(self, signals: Floats, hits: Floats) -> Calibration:
        """A calibration on these leave-one-out answers plus the epics known to serve no KR
        (declared run/maintenance work): whatever they lean to is a miss by definition, which
        teaches the calibration what an epic unlike any KR's work looks like."""
        neg = self.negative_signals
        return Calibration(np.vstack((signals.reshape(-1, 2), neg)),
                           np.concatenate((hits, np.zeros(len(neg)))), len(self.kr_ids))

    def _negative_signals(self, negatives: Sequence[tuple[Ticket, str | None]]) -> Floats:
        if not negatives or not self.kr_ids:
            return np.zeros((0, 2))
        q = self.vectors([t for t, _ in negatives], [team for _, team in negatives])
        q.data[np.isin(q.indices, self.label_columns)] = 0.0
        scores = np.asarray((normalize(q) @ self.centroids.T).todense())
        return _orders(scores)[1]

    def evidence(self, tickets: Sequence[Ticket], teams: Sequence[str | None],
                 kr_ids: Sequence[str], *, neighbours: int = 3, words: int = 3,
                 chunk: int = 512) -> list[Evidence]:
        """For each epic, the linked epics of its suggested KR closest to it and the words that
        pulled it there rather than to the runner-up. Batched: one product per KR and chunk."""
        if not tickets:
            return []
        q_all = self.vectors(tickets, teams)
        wanted = np.array([self.kr_ids.index(k) for k in kr_ids])
        found = self._deciding_words(q_all, wanted, words)
        near: list[tuple[Neighbour, ...]] = [()] * len(tickets)
        for k in sorted(set(wanted.tolist())):
            idx = np.flatnonzero(wanted == k)
            members = self.members[k]
            if not len(members):
                continue
            xm = self.x[members].T.tocsc()
            for at in range(0, len(idx), chunk):
                part = idx[at:at + chunk]
                sims = np.asarray((q_all[part] @ xm).todense())
                best = np.argsort(-sims, axis=1, kind="stable")[:, :neighbours]
                for r, i in enumerate(part):
                    near[i] = tuple(
                        Neighbour(ex.source, ex.key, ex.title, round(float(sims[r, j]), 3))
                        for j in best[r] if sims[r, j] > 0
                        for ex in (self.examples[int(members[j])].ticket,))
        return [Evidence(n, w) for n, w in zip(near, found, strict=True)]

    def _deciding_words(self, q: sparse.csr_matrix, wanted: npt.NDArray[np.int64],
                        words: int) -> list[tuple[str, ...]]:
        """Per epic, its terms with the largest share of (score of its KR - score of the
        runner-up): one element-wise product for all epics."""
        scores = np.asarray((q @ self.centroids.T).todense())
        scores[np.arange(len(wanted)), wanted] = -np.inf
        rival = np.argmax(scores, axis=1)
        pull = self.centroids[wanted] - self.centroids[rival]
        contrib = q.multiply(pull).tocsr()
        out = []
        for r in range(contrib.shape[0]):
            lo, hi = contrib.indptr[r], contrib.indptr[r + 1]
            vals, cols = contrib.data[lo:hi], contrib.indices[lo:hi]
            best = [int(cols[j]) for j in np.lexsort((cols, -vals))[:words] if vals[j] > 0]
            out.append(tuple(display_term(str(self.terms[i])) for i in best))
        return out

    # ----------------------------------------------------------------- leave-one-out

    def leave_one_out(self) -> LeaveOneOut:
        """Exact leave-one-out: each example ranked against the KR sums without itself, its
        own labels hidden from it (computed once, when the model is fitted)."""
        return self.loo

    def _leave_one_out(self) -> LeaveOneOut:
        n = self.x.shape[0]
        if n == 0:
            return LeaveOneOut((), np.zeros(0), ())
        q = self.x.copy()
        q.data[np.isin(q.indices, self.label_columns)] = 0.0
        q = normalize(q)
        dots = np.asarray((q @ self.sums.T).todense())
        own = np.asarray(q.multiply(self.x).sum(axis=1)).ravel()
        rows = np.arange(n)
        x_dot_sum = np.asarray((self.x @ self.sums.T).todense())[rows, self.labels]
        norms2 = np.asarray(self.sums.multiply(self.sums).sum(axis=1)).ravel()
        norms = np.tile(np.sqrt(norms2), (n, 1))
        dots[rows, self.labels] -= own
        norms[rows, self.labels] = np.sqrt(
            np.maximum(norms2[self.labels] - 2 * x_dot_sum + 1.0, 1e-12))
        scores = dots / np.maximum(norms, 1e-12)
        orders, signals = _orders(scores)
        return LeaveOneOut(tuple(tuple(o) for o in orders), signals,
                           tuple(int(v) for v in self.labels))


def fit(examples: Sequence[Example], catalog: Catalog, prefixes: Prefixes,
        negatives: Sequence[tuple[Ticket, str | None]] = ()) -> Suggester:
    """Learn from the linked epics (any order: they are sorted, so the model is the same);
    `negatives` (epic, team) are epics known to serve no KR, used only to calibrate."""
    kr_ids = tuple(sorted(kr.id for kr in catalog.key_results))
    index = {k: i for i, k in enumerate(kr_ids)}
    chosen = sorted((e for e in examples if e.kr_id in index),
                    key=lambda e: (e.ticket.source, e.ticket.key, e.kr_id))
    docs = texts([e.ticket for e in chosen], [e.team for e in chosen], prefixes)
    priors = [kr_text(kr, catalog) for kr in sorted(catalog.key_results, key=lambda k: k.id)]
    words = TfidfVectorizer(ngram_range=(1, 1), strip_accents="unicode",
                            stop_words="english").build_analyzer()
    vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float64, max_df=MAX_DF,
                                 analyzer=make_analyzer(words))
    both = vectorizer.fit_transform(docs + priors).tocsr()
    x, prior = both[:len(docs)], both[len(docs):]
    labels = np.array([index[e.kr_id] for e in chosen], dtype=np.int64)
    onehot = sparse.csr_matrix(
        (np.ones(len(chosen)), (labels, np.arange(len(chosen)))), shape=(len(kr_ids), len(chosen)))
    sums = (onehot @ x + PRIOR_WEIGHT * prior).tocsr()
    negatives = sorted(negatives, key=lambda n: (n[0].source, n[0].key))
    return Suggester(vectorizer, kr_ids, x, labels, sums, chosen, prefixes, negatives)


def _orders(scores: Floats) -> tuple[list[list[int]], Floats]:
    """Row-wise `_order` and (lead, top score) for a whole score matrix at once."""
    if scores.shape[0] == 0:
        return [], np.zeros((0, 2))
    top = np.argsort(-scores, axis=1, kind="stable")[:, :TOP]
    rows = np.arange(scores.shape[0])
    first = scores[rows, top[:, 0]]
    second = scores[rows, top[:, 1]] if top.shape[1] > 1 else np.zeros(len(rows))
    return top.tolist(), np.column_stack((first - second, first))


def _order(row: Floats) -> list[int]:
    """The top KR indexes by score; ties by KR id (the index order), so runs agree."""
    return [int(i) for i in np.argsort(-row, kind="stable")[:TOP]]


def _shares(row: Floats, order: Sequence[int], conf: float) -> tuple[float, ...]:
    """The first KR's calibrated confidence; the rest of the belief shared by score."""
    rest = np.maximum(row[list(order[1:])], 0.0)
    total = float(rest.sum())
    others = [(1 - conf) * float(v) / total if total else 0.0 for v in rest]
    return tuple(round(v, 3) for v in (conf, *others))


def _hits(loo: LeaveOneOut) -> Floats:
    return np.array([1.0 if r and r[0] == t else 0.0 for r, t in zip(loo.ranked, loo.truth,
                                                                    strict=True)])


TIE_ANCHORS = 5
"""Pseudo-observations of ties (lead 0) at scores 0..1, each right by chance only."""


class Calibration:
    """P(the top KR is right | its lead and score), fitted on leave-one-out hits. Ties are
    added as right 1 time in `kr_count`, so an epic that leans to no KR never borrows the
    confidence of an organisation that is easy to predict."""

    def __init__(self, signals: Floats, hits: Floats, kr_count: int) -> None:
        chance = 1.0 / max(kr_count, 1)
        ties = np.column_stack((np.zeros(TIE_ANCHORS), np.linspace(0.0, 1.0, TIE_ANCHORS)))
        x = np.vstack((ties, ties, signals.reshape(-1, 2)))
        y = np.concatenate((np.ones(TIE_ANCHORS), np.zeros(TIE_ANCHORS), hits))
        weights = np.concatenate((np.full(TIE_ANCHORS, chance), np.full(TIE_ANCHORS, 1 - chance),
                                  np.ones(len(hits))))
        self.constant = float(np.average(y, weights=weights))
        self.model: LogisticRegression | None = None
        if len(set(y.tolist())) == 2:
            self.model = LogisticRegression(C=100.0).fit(x, y, sample_weight=weights)

    def predict(self, signals: Floats) -> Floats:
        signals = np.asarray(signals, dtype=np.float64).reshape(-1, 2)
        if self.model is None:
            return np.full(len(signals), self.constant)
        return np.asarray(self.model.predict_proba(signals)[:, 1], dtype=np.float64)
