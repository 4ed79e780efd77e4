"""Exact k-nearest-neighbour search (Euclidean), chunked so memory stays bounded.

The reference set is read once, chunk by chunk (an iterable of chunks may be streamed from a
memory-mapped image array); only a (query chunk x reference chunk) distance block and the running
top-k lists are in memory.

``exact=True`` computes every distance as sqrt(sum((a - b)^2)) (``torch.cdist``'s
``donot_use_mm_for_euclid_dist``): d(a, b) is then the same float, bit for bit, whichever set is
the query, however the sets are chunked. The default matrix-multiply form
(sqrt(|a|^2 + |b|^2 - 2 a.b)) is ~15x faster but not symmetric to the last bit, which matters
only where distances are compared with radii computed in another call (k-NN radii: see
``precision_recall``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor
EXACT = "donot_use_mm_for_euclid_dist"
FAST = "use_mm_for_euclid_dist_if_necessary"


def pairwise_distances(a: torch.Tensor, b: torch.Tensor, exact: bool = False) -> torch.Tensor:
    """Euclidean distances (len(a), len(b)); ``exact``: the bit-symmetric form (module doc)."""
    return torch.cdist(a, b, compute_mode=EXACT if exact else FAST)


def as_tensor(x: ArrayLike, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A tensor of ``dtype`` from an array or tensor; read-only (memory-mapped) arrays are copied
    (torch cannot wrap them)."""
    if torch.is_tensor(x):
        return x.to(dtype)
    array = np.asarray(x)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array).to(dtype)


def _as_matrix(x: ArrayLike, dtype: torch.dtype) -> torch.Tensor:
    t = as_tensor(x, dtype)
    if t.ndim != 2:
        raise ValueError(f"expected a 2-D (N, D) array, got shape {tuple(t.shape)}")
    return t


def nearest_neighbours_streamed(
    query: ArrayLike,
    reference_chunks: Iterable[ArrayLike],
    k: int = 1,
    *,
    exclude_self: bool = False,
    query_chunk: int = 2048,
    dtype: torch.dtype = torch.float64,
    exact: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """k-NN of every query row among the rows of all ``reference_chunks`` (in order).

    Returns ``(distances, indices)``, each (Q, k), ascending by distance; indices count rows
    across the chunks. ``exclude_self`` treats query row i and reference row i as the same point
    and skips it (query and reference must then be the same set).
    """
    q = _as_matrix(query, dtype)
    n_query = q.shape[0]
    best_d = torch.full((n_query, k), float("inf"), dtype=dtype)
    best_i = torch.full((n_query, k), -1, dtype=torch.long)
    offset = 0
    for chunk in reference_chunks:
        r = _as_matrix(chunk, dtype)
        if r.shape[1] != q.shape[1]:
            raise ValueError(f"query has {q.shape[1]} dimensions, reference {r.shape[1]}")
        ref_index = torch.arange(offset, offset + r.shape[0])
        for start in range(0, n_query, query_chunk):
            stop = min(start + query_chunk, n_query)
            d = pairwise_distances(q[start:stop], r, exact)
            if exclude_self:
                own = torch.arange(start, stop).unsqueeze(1) == ref_index.unsqueeze(0)
                d = d.masked_fill(own, float("inf"))
            cand_d = torch.cat([best_d[start:stop], d], dim=1)
            cand_i = torch.cat([best_i[start:stop], ref_index.expand(stop - start, -1)], dim=1)
            top_d, top_pos = torch.topk(cand_d, k, dim=1, largest=False, sorted=True)
            best_d[start:stop] = top_d
            best_i[start:stop] = torch.gather(cand_i, 1, top_pos)
        offset += r.shape[0]
    available = offset - (1 if exclude_self else 0)
    if available < k:
        raise ValueError(f"k={k} neighbours requested but the reference has only {available}")
    return best_d.numpy(), best_i.numpy()


def nearest_neighbours(
    query: ArrayLike,
    reference: ArrayLike,
    k: int = 1,
    *,
    exclude_self: bool = False,
    query_chunk: int = 2048,
    reference_chunk: int = 8192,
    dtype: torch.dtype = torch.float64,
    exact: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean k-NN of each ``query`` row in ``reference`` via chunked ``torch.cdist``.

    Returns ``(distances, indices)``, both (Q, k), nearest first. With ``exclude_self`` the
    query is the reference and each point's own row is skipped (k-NN radii within one set).
    """
    chunks = (reference[s : s + reference_chunk] for s in range(0, len(reference), reference_chunk))
    return nearest_neighbours_streamed(
        query,
        chunks,
        k,
        exclude_self=exclude_self,
        query_chunk=query_chunk,
        dtype=dtype,
        exact=exact,
    )
