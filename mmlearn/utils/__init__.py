"""Internal utilities of mmlearn (no public API)."""
