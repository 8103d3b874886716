"""Pure helpers: no database, no request (tokens, tags, policies, User-Agents, networks, device proofs, text, the clock)."""
