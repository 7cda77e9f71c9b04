"""PNG figures written into run directories and logged to MLflow (matplotlib, Agg backend: no display needed)."""
