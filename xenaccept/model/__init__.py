"""The inventory as values: SSH specs, targets read from YAML and validated, and the
run's own keys. Imports no SSH library."""
