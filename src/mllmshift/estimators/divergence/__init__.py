"""JSD / divergence estimators."""
