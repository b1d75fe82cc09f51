"""Model sources: names, factories and files resolved to artifacts, and loaded only when needed."""
