"""What ranking needs of a fitted suggester, as plain arrays: the vocabulary and its weights,
one centroid per key result, the stacked confidence model and the linked epics shown as
evidence. Ranking with it needs numpy and scipy only, so a sync that reuses a stored model
neither imports scikit-learn nor reads the linked epics again.

`to_arrays` / `from_arrays` turn it into named numpy arrays of numbers (strings as UTF-8
JSON bytes; no pickled objects): a stored model is loaded with `allow_pickle=False`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from core.model import Ticket
from mappings.suggest.features import Prefixes, display_term, make_analyzer, texts, words

TOP = 3
FORMAT = 2
"""Bumped whenever what a stored model means changes: an older stored model is refitted (2:
the confidence model fitted by `softmax`, evidence from evenly spaced examples), so a kept
model always suggests exactly what a fresh fit would."""

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


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


def unit_rows(m: sparse.csr_matrix) -> sparse.csr_matrix:
    """Each row scaled to length 1 (an all-zero row stays zero)."""
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sparse.csr_matrix(sparse.diags(scale) @ m)


def stack_features(scores: Floats) -> Floats:
    """What the confidence model reads of one epic: its similarity to every KR, and how far
    each is behind the best one."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape[1] == 0:
        return scores
    return np.column_stack((scores, scores - scores.max(axis=1, keepdims=True)))


@dataclass(frozen=True)
class Stacker:
    """P(key result | similarities): a multinomial logistic regression fitted on
    leave-one-out similarities. Class `kr_count` (if present) is "serves no key result"."""

    coef: Floats
    intercept: Floats
    classes: Ints
    kr_count: int

    def probabilities(self, scores: Floats) -> Floats:
        """(epics, kr_count): the probability of each KR; what is left is "none"."""
        x = stack_features(scores)
        logits = x @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        out = np.zeros((len(x), self.kr_count))
        real = self.classes < self.kr_count
        out[:, self.classes[real]] = p[:, real]
        return out


@dataclass(frozen=True)
class Ranker:
    """A fitted model as ranking uses it. `members` are TF-IDF rows of linked epics (at most
    a few thousand per KR), `member_kr` their KR index, `member_refs` (source, key, title)."""

    kr_ids: tuple[str, ...]
    terms: tuple[str, ...]
    idf: Floats
    centroids: sparse.csr_matrix
    stacker: Stacker
    members: sparse.csr_matrix
    member_kr: Ints
    member_refs: tuple[tuple[str, str, str], ...]
    prefixes: Prefixes
    examples: int
    """How many linked epics it learned from."""

    @functools.cached_property
    def vocabulary(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.terms)}

    # ----------------------------------------------------------------- vectors

    def vectors(self, tickets: Sequence[Ticket], teams: Sequence[str | None]) -> sparse.csr_matrix:
        """TF-IDF rows exactly as the fitted vectorizer gives them (sublinear tf, l2 norm)."""
        return self.transform(texts(tickets, teams, self.prefixes))

    def transform(self, docs: Sequence[str]) -> sparse.csr_matrix:
        vocab, analyze = self.vocabulary, make_analyzer(words)
        cols: list[int] = []
        ends: list[int] = []
        for doc in docs:
            cols.extend([vocab[t] for t in analyze(doc) if t in vocab])
            ends.append(len(cols))
        rows = np.repeat(np.arange(len(docs)), np.diff(np.asarray([0, *ends])))
        counts = sparse.csr_matrix((np.ones(len(cols)), (rows, np.asarray(cols, dtype=np.int64))),
                                   shape=(len(docs), len(self.terms)))  # duplicates summed
        counts.sum_duplicates()
        counts.data = (1.0 + np.log(counts.data)) * self.idf[counts.indices]
        return unit_rows(counts)

    def similarities(self, q: sparse.csr_matrix) -> Floats:
        return np.asarray((q @ self.centroids.T).todense(), dtype=np.float64)

    # ----------------------------------------------------------------- ranking

    def rank(self, tickets: Sequence[Ticket], teams: Sequence[str | None]) -> list[Ranked]:
        """The top key results for each epic, best first."""
        if not tickets or not self.kr_ids:
            return [Ranked((), (), 0.0) for _ in tickets]
        return self.rank_vectors(self.vectors(tickets, teams))

    def rank_vectors(self, q: sparse.csr_matrix) -> list[Ranked]:
        """`rank` for epics already turned into `vectors`."""
        if not self.kr_ids:
            return [Ranked((), (), 0.0) for _ in range(q.shape[0])]
        scores = self.similarities(q)
        probs = self.stacker.probabilities(scores)
        probs[scores.max(axis=1, initial=0.0) <= 0] = 0.0  # nothing in common with any KR
        order = np.argsort(-probs, axis=1, kind="stable")[:, :TOP]
        top = np.take_along_axis(probs, order, axis=1)
        lead = top[:, 0] - (top[:, 1] if top.shape[1] > 1 else 0.0)
        return [Ranked(tuple(self.kr_ids[i] for i in o), tuple(round(float(v), 3) for v in t),
                       float(m)) for o, t, m in zip(order.tolist(), top, lead, strict=True)]

    def evidence(self, tickets: Sequence[Ticket], teams: Sequence[str | None],
                 kr_ids: Sequence[str], *, neighbours: int = 3, words: int = 3,
                 chunk: int = 512) -> list[Evidence]:
        """For each epic, the linked epics of its suggested KR closest to it and the words that
        pulled it there rather than to the runner-up. Batched: one product per KR and chunk."""
        if not tickets:
            return []
        return self.evidence_vectors(self.vectors(tickets, teams), kr_ids,
                                     neighbours=neighbours, words=words, chunk=chunk)

    def evidence_vectors(self, q_all: sparse.csr_matrix, kr_ids: Sequence[str], *,
                         neighbours: int = 3, words: int = 3,
                         chunk: int = 512) -> list[Evidence]:
        """`evidence` for epics already turned into `vectors`."""
        if not q_all.shape[0]:
            return []
        index = {k: i for i, k in enumerate(self.kr_ids)}
        wanted = np.array([index[k] for k in kr_ids], dtype=np.int64)
        found = self._deciding_words(q_all, wanted, words)
        near: list[tuple[Neighbour, ...]] = [()] * q_all.shape[0]
        for k in sorted(set(wanted.tolist())):
            idx = np.flatnonzero(wanted == k)
            rows = np.flatnonzero(self.member_kr == k)
            if not len(rows):
                continue
            xm = self.members[rows].T.tocsc()
            for at in range(0, len(idx), chunk):
                part = idx[at:at + chunk]
                sims = np.asarray((q_all[part] @ xm).todense())
                best = _top_columns(sims, neighbours)
                for r, i in enumerate(part):
                    near[i] = tuple(
                        Neighbour(*self.member_refs[int(rows[j])], round(float(sims[r, j]), 3))
                        for j in best[r] if sims[r, j] > 0)
        return [Evidence(n, w) for n, w in zip(near, found, strict=True)]

    def _deciding_words(self, q: sparse.csr_matrix, wanted: Ints,
                        words: int) -> list[tuple[str, ...]]:
        """Per epic, its terms with the largest share of (score of its KR - score of the
        runner-up): one element-wise product for all epics."""
        scores = self.similarities(q)
        scores[np.arange(len(wanted)), wanted] = -np.inf
        rival = np.argmax(scores, axis=1)
        pull = self.centroids[wanted] - self.centroids[rival]
        contrib = q.multiply(pull).tocsr()
        out = []
        for r in range(contrib.shape[0]):
            lo, hi = contrib.indptr[r], contrib.indptr[r + 1]
            vals, cols = contrib.data[lo:hi], contrib.indices[lo:hi]
            best = [int(cols[j]) for j in np.lexsort((cols, -vals))[:words] if vals[j] > 0]
            out.append(tuple(display_term(self.terms[i]) for i in best))
        return out

    # ----------------------------------------------------------------- storage

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Named arrays of numbers only."""
        def csr(name: str, m: sparse.csr_matrix) -> dict[str, np.ndarray]:
            return {f"{name}_data": m.data, f"{name}_indices": m.indices.astype(np.int64),
                    f"{name}_indptr": m.indptr.astype(np.int64),
                    f"{name}_shape": np.asarray(m.shape, dtype=np.int64)}

        return {
            "format": np.asarray([FORMAT, self.stacker.kr_count, self.examples], dtype=np.int64),
            "kr_ids": _json_bytes(self.kr_ids),
            "terms": _json_bytes(self.terms),
            "idf": self.idf,
            **csr("centroids", self.centroids),
            "stacker_coef": self.stacker.coef, "stacker_intercept": self.stacker.intercept,
            "stacker_classes": self.stacker.classes,
            **csr("members", self.members),
            "member_kr": self.member_kr,
            "member_refs": _json_bytes(self.member_refs),
            "prefixes": _json_bytes((self.prefixes.explicit, self.prefixes.managed)),
        }

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray]) -> Ranker:
        """The inverse of `to_arrays`; `ValueError` for another format."""
        fmt, kr_count, examples = (int(v) for v in a["format"])
        if fmt != FORMAT:
            raise ValueError(f"stored suggestion model format {fmt}, expected {FORMAT}")

        def csr(name: str) -> sparse.csr_matrix:
            shape = tuple(int(v) for v in a[f"{name}_shape"])
            return sparse.csr_matrix((a[f"{name}_data"], a[f"{name}_indices"],
                                      a[f"{name}_indptr"]), shape=shape)

        explicit, managed = (str(v) for v in _from_json_bytes(a["prefixes"]))
        return cls(
            kr_ids=tuple(str(v) for v in _from_json_bytes(a["kr_ids"])),
            terms=tuple(str(v) for v in _from_json_bytes(a["terms"])),
            idf=np.asarray(a["idf"], dtype=np.float64), centroids=csr("centroids"),
            stacker=Stacker(np.asarray(a["stacker_coef"], dtype=np.float64),
                            np.asarray(a["stacker_intercept"], dtype=np.float64),
                            np.asarray(a["stacker_classes"], dtype=np.int64), kr_count),
            members=csr("members"), member_kr=np.asarray(a["member_kr"], dtype=np.int64),
            member_refs=tuple((str(s), str(k), str(t))
                              for s, k, t in _from_json_bytes(a["member_refs"])),
            prefixes=Prefixes(explicit, managed), examples=examples)


def _json_bytes(value: object) -> np.ndarray:
    """Strings as UTF-8 JSON in a byte array: compact, and no object array to unpickle."""
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode(), dtype=np.uint8)


def _from_json_bytes(array: np.ndarray) -> Any:
    return json.loads(np.asarray(array, dtype=np.uint8).tobytes().decode())


def _top_columns(sims: Floats, n: int) -> Ints:
    """Per row, the `n` largest columns, largest first (ties: lower column first)."""
    if sims.shape[1] > n:
        part = np.argpartition(-sims, n - 1, axis=1)[:, :n]
    else:
        part = np.tile(np.arange(sims.shape[1]), (sims.shape[0], 1))
    vals = np.take_along_axis(sims, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.asarray(np.take_along_axis(part, order, axis=1), dtype=np.int64)
