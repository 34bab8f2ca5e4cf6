"""The anonymous tip portal."""
