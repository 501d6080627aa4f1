"""Nearest neighbours among all rows of a stream, and an estimator that hands them to a sampler.

`StreamedNeighbours` finds, for a set of query rows held in memory, their `n_neighbors` nearest
rows (Euclidean) among every row of a stream read batch by batch: scikit-learn's
`NearestNeighbors` on each batch gives each query's nearest rows within that batch, and the best
over all batches are kept. It holds the queries, `queries x n_neighbors` distances, positions and
carried values, and one batch.

The result is scikit-learn's `NearestNeighbors(n_neighbors).fit(all rows).kneighbors(queries)`:
each batch is searched with the algorithm scikit-learn would pick for all rows
(`search_algorithm`), which computes the distance of a pair the same way whatever the other rows,
so the distances are equal and, without ties, so are the neighbours. Ties (rows at exactly the same
distance from a query, such as exact duplicates) are ordered by position in the stream here;
scikit-learn orders them as its search happens to meet them, which differs between its
algorithms and is not the stream order.

`KnownNeighbours` is a `NearestNeighbors` that answers given queries from such precomputed
neighbours: imbalanced-learn's ADASYN and BorderlineSMOTE accept it for `n_neighbors` /
`m_neighbors` / `k_neighbors`, so they can run on a few rows while their neighbour searches
are answered as if over all rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neighbors import NearestNeighbors


def search_algorithm(n_rows: int, n_features: int, n_neighbors: int) -> str:
    """The algorithm `NearestNeighbors(n_neighbors, algorithm="auto")` uses (Euclidean metric)
    on an array of `n_rows x n_features`: brute force for many features or many neighbours, else
    a k-d tree (scikit-learn's rule in `NeighborsBase._fit`)."""
    if n_features > 15 or n_neighbors >= n_rows // 2:
        return "brute"
    return "kd_tree"


class StreamedNeighbours:
    """The `n_neighbors` nearest rows of each query among all rows added with `add`, in order.

    `add(X, values)` takes the next batch of rows (their positions continue from the rows added
    before); `values` (one per row, e.g. class codes) are carried along so the caller learns
    something of each neighbour without keeping every row. After the last batch, `distances`,
    `positions` and `values` are `queries x n_neighbors` arrays, nearest first (with fewer rows
    than `n_neighbors` in all, the last columns stay at position -1, infinitely far).
    """

    def __init__(self, queries: np.ndarray, n_neighbors: int, algorithm: str) -> None:
        shape = (len(queries), n_neighbors)
        self.queries, self.n_neighbors, self.algorithm = queries, n_neighbors, algorithm
        self.distances = np.full(shape, np.inf)
        self.positions = np.full(shape, -1, dtype=np.int64)
        self.values = np.zeros(shape, dtype=np.int64)
        self.seen = 0

    def add(self, X: np.ndarray, values: np.ndarray | None = None) -> None:
        """Search the batch `X`, keep the best `n_neighbors` of what was kept and what it gave."""
        start, self.seen = self.seen, self.seen + len(X)
        if not len(X) or not len(self.queries):
            return
        search = NearestNeighbors(
            n_neighbors=min(self.n_neighbors, len(X)), algorithm=self.algorithm
        )
        distances, found = search.fit(X).kneighbors(self.queries)
        carried = np.zeros_like(found) if values is None else np.asarray(values)[found]
        distances = np.hstack([self.distances, distances])
        positions = np.hstack([self.positions, found + start])
        carried = np.hstack([self.values, carried])
        # nearest first; at equal distance the earlier row (a placeholder, -1, is at infinity)
        order = np.lexsort((positions, distances), axis=1)[:, : self.n_neighbors]
        self.distances = np.take_along_axis(distances, order, axis=1)
        self.positions = np.take_along_axis(positions, order, axis=1)
        self.values = np.take_along_axis(carried, order, axis=1)

    def label_ties(self, used: int) -> np.ndarray:
        """Per query: whether rows at exactly the same distance could change which values its
        first `used` neighbours after the first (the row itself) have, had they come in another
        order (scikit-learn orders them as its search meets them): a group of rows at one
        distance, of more than one value, straddles an edge (first | rest or used | unused).
        Needs `n_neighbors > used` to see the row after the last one used."""
        d, v = self.distances[:, : used + 1], self.values[:, : used + 1]
        out = np.zeros(len(d), dtype=bool)
        for edge in (1, used):
            if edge >= d.shape[1]:
                continue
            group = d == d[:, edge, None]
            lowest = np.where(group, v, np.iinfo(np.int64).max).min(axis=1)
            highest = np.where(group, v, np.iinfo(np.int64).min).max(axis=1)
            out |= (d[:, edge - 1] == d[:, edge]) & (lowest != highest)
        return out

    def equal_pairs(self, used: int) -> np.ndarray:
        """`queries x used`: whether neighbour `j` is at exactly the distance of neighbour
        `j + 1` (the last column: the first row not used), so their order is a tie's."""
        d = self.distances[:, : used + 1]
        out = np.zeros((len(d), used), dtype=bool)
        out[:, : d.shape[1] - 1] = d[:, 1:] == d[:, :-1]
        return out


class KnownNeighbours(NearestNeighbors):
    """`NearestNeighbors` whose answers are known for some queries of one array.

    Fitted on an array of exactly `rows` rows, `kneighbors(Q)` returns the neighbour indices of
    the entry `(query_rows, neighbours)` of `known` whose rows of that array are `Q` (indices
    only; an unknown query is an error, never a silent search). Fitted on any other array it
    searches like `NearestNeighbors(n_neighbors)` (imbalanced-learn also uses its estimator on
    the rows of one class). Parameters are kept as given, so scikit-learn's `clone` copies it.
    """

    def __init__(self, n_neighbors: int = 5, *, rows: int = 0, known: Any = ()) -> None:
        super().__init__(n_neighbors=n_neighbors)
        self.rows = rows
        self.known = known

    def fit(self, X: Any, y: Any = None) -> KnownNeighbours:
        if len(X) != self.rows:
            self.known_X_ = None
            return super().fit(X, y)
        self.known_X_ = np.asarray(X)
        return self

    def kneighbors(
        self, X: Any = None, n_neighbors: int | None = None, return_distance: bool = True
    ) -> Any:
        if getattr(self, "known_X_", None) is None:
            return super().kneighbors(X, n_neighbors, return_distance)
        if return_distance or n_neighbors not in (None, self.n_neighbors):
            raise ValueError("KnownNeighbours gives the known neighbour indices only")
        X = np.asarray(X)
        for query_rows, neighbours in self.known:
            if len(query_rows) == len(X) and np.array_equal(self.known_X_[query_rows], X):
                return neighbours
        raise ValueError(f"no known neighbours for these {len(X)} queries")
