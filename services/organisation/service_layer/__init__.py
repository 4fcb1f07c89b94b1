"""Command handlers: load state, ask the domain, append; all in the caller's transaction."""
