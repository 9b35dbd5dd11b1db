"""Domain rules of the credit services (pure functions; the services call them)."""
