"""Plain data and the tables every layer shares: results, errors, losses, causes, suggestions.

Imports nothing of the numerical stack, so `validate`, `merge` and the reports run without it."""
