"""predictors (see DESIGN.md)."""
