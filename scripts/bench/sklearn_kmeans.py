"""Reference k-means for the benchmark: scikit-learn's KMeans (k-means++, Lloyd) on the z-scores the
benchmark's k-means worker wrote, on one thread, with the inertia of both its centres and the engine's
recomputed here in NumPy.

    python3 sklearn_kmeans.py <z-scores .f64 file> <features d> <k> <engine centres .json> [n_init]
"""
import json
import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits


def nearest_inertia(z, centres, chunk=200_000):
    total = 0.0
    for start in range(0, len(z), chunk):
        part = z[start:start + chunk]
        d2 = ((part[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        total += float(d2.min(axis=1).sum())
    return total


def main():
    path, d, k, engine_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    n_init = int(sys.argv[5]) if len(sys.argv) > 5 else 10
    z = np.fromfile(path, dtype="<f8").reshape(-1, d)
    with open(engine_path) as f:
        engine = np.array(json.load(f), dtype=np.float64)
    with threadpool_limits(limits=1):
        start = time.perf_counter()
        model = KMeans(n_clusters=k, init="k-means++", n_init=n_init, random_state=0, algorithm="lloyd").fit(z)
        seconds = time.perf_counter() - start
    import sklearn

    print(json.dumps({
        "method": f"scikit-learn {sklearn.__version__} KMeans, k-means++, n_init={n_init}, lloyd, 1 thread",
        "seconds": seconds,
        "inertia": nearest_inertia(z, model.cluster_centers_),
        "sklearnInertia": float(model.inertia_),
        "iterations": int(model.n_iter_),
        "engineInertia": nearest_inertia(z, engine),
    }))


main()
