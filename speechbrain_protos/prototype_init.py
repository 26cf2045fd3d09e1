"""Prototype initialisation from data.

* :func:`kmeans_plus_plus`: the authors' way, for unsupervised training:
  k-means++ seeding over time-averaged training crops (the first pick is
  uniform, each next one drawn with probability proportional to its squared
  distance to the nearest pick).
* :func:`class_means`: for supervised training, prototype k starts as the
  mean spectrum of class k (the authors seeded supervised runs with
  k-means++ too, ignoring labels, so class k often started from another
  class).

Authors
 * speechbrain-protos developers 2026
"""

import torch

INIT_METHODS = ("class_mean", "kmeans++")


def kmeans_plus_plus(points, n_centres, generator=None):
    """Indices of ``n_centres`` points chosen by k-means++ seeding.

    Arguments
    ---------
    points : torch.Tensor
        ``[N, F]`` candidate points.
    n_centres : int
        How many to choose (<= N).
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    torch.Tensor
        Long ``[n_centres]`` indices into ``points``.

    Example
    -------
    >>> points = torch.tensor([[0.0], [0.1], [5.0], [5.1]])
    >>> chosen = kmeans_plus_plus(points, 2, torch.Generator().manual_seed(0))
    >>> sorted(points[chosen].round().flatten().tolist())
    [0.0, 5.0]
    """
    n_points = points.shape[0]
    if not 1 <= n_centres <= n_points:
        raise ValueError(
            f"cannot seed {n_centres} centres from {n_points} points; "
            "need at least as many training clips as prototypes"
        )
    points = points.to(torch.float64)
    first = torch.randint(n_points, (1,), generator=generator)
    chosen = [int(first)]
    nearest = (points - points[first]).pow(2).sum(dim=1)
    for _ in range(n_centres - 1):
        weights = nearest.clone()
        weights[chosen] = 0.0
        if weights.sum() <= 0:  # every point coincides with a pick
            weights = torch.ones(n_points, dtype=torch.float64)
            weights[chosen] = 0.0
        pick = int(torch.multinomial(weights, 1, generator=generator))
        chosen.append(pick)
        nearest = torch.minimum(nearest, (points - points[pick]).pow(2).sum(dim=1))
    return torch.tensor(chosen)


def class_means(points, labels, n_classes):
    """Mean point of every class, ``[n_classes, F]``.

    Arguments
    ---------
    points : torch.Tensor
        ``[N, F]`` points.
    labels : torch.Tensor
        Long ``[N]`` class of each point.
    n_classes : int
        Number of classes.

    Returns
    -------
    torch.Tensor
        ``[n_classes, F]`` means.

    Raises
    ------
    ValueError
        If a class has no point.

    Example
    -------
    >>> class_means(torch.tensor([[1.0], [3.0], [5.0]]), torch.tensor([0, 0, 1]), 2)
    tensor([[2.],
            [5.]])
    """
    totals = torch.zeros(n_classes, points.shape[1], dtype=torch.float64)
    totals.index_add_(0, labels, points.to(torch.float64))
    sizes = torch.bincount(labels, minlength=n_classes)
    missing = (sizes == 0).nonzero().flatten().tolist()
    if missing:
        raise ValueError(f"classes {missing} have no training clip to average")
    return (totals / sizes[:, None]).to(points.dtype)
