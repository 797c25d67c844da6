"""execution (see DESIGN.md)."""
