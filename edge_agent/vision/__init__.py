"""Vision adapters of the edge that are not models: optical flow for the tracker."""
