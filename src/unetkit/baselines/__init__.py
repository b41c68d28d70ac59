"""Traditional (non-learned) segmentation baselines from the lectures."""

from unetkit.baselines.kmeans import kmeans_segment, map_clusters_to_classes

__all__ = ["kmeans_segment", "map_clusters_to_classes"]
