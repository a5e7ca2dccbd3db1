"""`make soak`: a campaign day under load (see soak/README.md)."""
