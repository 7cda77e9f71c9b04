"""The model group's options: one light module per model, each defining one ``ModelSpec`` subclass."""
