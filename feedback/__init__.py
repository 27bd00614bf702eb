"""The event log of shown, accepted and rejected suggestions."""
