"""What every layer needs from the process it runs in (no Kedro, no torch at import): devices,
atomic writes, the project lock, the tracking-server check, provenance, privacy, user errors,
the parameter schema, lazy package exports and "which rank am I" (``rank``)."""
