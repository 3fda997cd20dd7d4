"""Spatial weights for hotspot statistics, as plain scipy sparse matrices (no libpysal at run
time): queen contiguity between grid-cell polygons, the Gi* self-weight, row standardisation,
islands, and k-nearest-cell neighbourhoods for the space-time scan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

__all__ = [
    "Neighbourhoods",
    "islands",
    "nearest_cells",
    "queen_weights",
    "row_standardize",
    "with_self",
]


def queen_weights(
    polygons: Sequence[BaseGeometry] | npt.NDArray[np.object_], tolerance: float = 0.0
) -> sp.csr_matrix:
    """Queen contiguity: cells i and j (i != j) are neighbours when they share at least one
    point (an edge or only a vertex).

    Pass the UNSIMPLIFIED cell polygons: simplifying cells one by one opens slivers between
    neighbours and silently drops links. `tolerance` (in the polygons' units, e.g. degrees)
    also links cells separated by a gap no wider than it, for boundaries digitised with small
    gaps; 0 means exact contact. Cells that overlap are neighbours too.

    Returns an n×n binary CSR matrix (float64 ones, zero diagonal, symmetric, sorted indices),
    rows in the order of `polygons`.
    """
    geoms = np.asarray(polygons, dtype=object)
    n = len(geoms)
    if n == 0:
        return sp.csr_matrix((0, 0), dtype=np.float64)
    if tolerance < 0:
        raise ValueError("tolerance must be >= 0")
    tree = shapely.STRtree(geoms)
    # One bulk query in GEOS: the tree prunes by envelope, the predicate is evaluated in C.
    if tolerance > 0:
        left, right = tree.query(geoms, predicate="dwithin", distance=tolerance)
    else:
        left, right = tree.query(geoms, predicate="intersects")
    keep = left != right
    left, right = left[keep], right[keep]
    # The predicate is symmetric, but make the matrix symmetric by construction anyway so a
    # GEOS robustness corner case can never yield a one-way link.
    rows = np.concatenate([left, right])
    cols = np.concatenate([right, left])
    w = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    w.data[:] = 1.0  # duplicates were summed by the constructor
    w.sort_indices()
    return w


def with_self(w: sp.spmatrix | sp.sparray, weight: float = 1.0) -> sp.csr_matrix:
    """The matrix with its diagonal set to `weight` (Gi* "star" weights use w_ii = 1)."""
    out = sp.csr_matrix(w, dtype=np.float64, copy=True)
    out.setdiag(0.0)
    out.eliminate_zeros()
    if weight != 0.0:
        out = (out + sp.identity(out.shape[0], dtype=np.float64, format="csr") * weight).tocsr()
    out.sort_indices()
    return out


def row_standardize(w: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """Each row divided by its sum (libpysal transform 'R'); rows that sum to 0 stay 0."""
    out = sp.csr_matrix(w, dtype=np.float64, copy=True)
    sums = np.asarray(out.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums != 0)
    out = sp.csr_matrix(sp.diags(scale) @ out)
    out.sort_indices()
    return out


def islands(w: sp.spmatrix | sp.sparray) -> npt.NDArray[np.intp]:
    """Indices of cells with no neighbour other than themselves."""
    m = sp.csr_matrix(w, copy=True)
    m.setdiag(0)
    m.eliminate_zeros()
    return np.flatnonzero(np.diff(m.indptr) == 0)


@dataclass(frozen=True)
class Neighbourhoods:
    """For each cell its `k` nearest cells by centroid distance, nearest first (column 0 is
    the cell itself): `indices` and `distances`, both (n, k)."""

    indices: npt.NDArray[np.intp]
    distances: npt.NDArray[np.float64]


def nearest_cells(
    centroids: npt.ArrayLike, k: int = 50, *, geographic: bool = False
) -> Neighbourhoods:
    """The `k` nearest cells of every cell (itself included, first), sorted by distance.

    `centroids` is (n, 2): planar x/y, or lon/lat in degrees when `geographic` is true; then
    longitudes are scaled by cos(mean latitude) so distances are in degrees of latitude
    (×111 km), which is accurate enough at city scale and keeps "nearest" honest at 35° N,
    where a degree of longitude is 20% shorter than one of latitude.
    """
    xy = np.array(centroids, dtype=np.float64, copy=True)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError("centroids must have shape (n, 2)")
    n = xy.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of cells ({n})")
    if geographic:
        xy[:, 0] *= np.cos(np.deg2rad(xy[:, 1].mean()))
    dist, idx = cKDTree(xy).query(xy, k=k)
    dist = np.asarray(dist, dtype=np.float64).reshape(n, k)
    idx = np.asarray(idx, dtype=np.intp).reshape(n, k)
    # With duplicate centroids the query may list another cell before the cell itself; put
    # the cell first so that column 0 always is the cylinder's centre.
    self_pos = np.argmax(idx == np.arange(n)[:, None], axis=1)
    has_self = idx[np.arange(n), self_pos] == np.arange(n)
    fix = np.flatnonzero((self_pos != 0) & has_self)
    for i in fix:
        j = self_pos[i]
        idx[i, [0, j]] = idx[i, [j, 0]]
    missing = np.flatnonzero(~has_self)
    for i in missing:  # more than k cells share the same centroid: rare, keep it correct
        idx[i, 1:] = idx[i, :-1].copy()
        idx[i, 0] = i
        dist[i, 1:] = dist[i, :-1].copy()
    dist[:, 0] = 0.0
    return Neighbourhoods(indices=idx, distances=dist)
