"""MI estimators."""
