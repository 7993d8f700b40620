"""Types, errors, settings and file helpers every layer may use."""
