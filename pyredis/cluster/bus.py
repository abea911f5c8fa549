"""The cluster bus message format (placeholder, filled next)."""
