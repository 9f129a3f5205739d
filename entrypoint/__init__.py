"""GitHub Actions adapter for the gradcheck-ci container (run as a script: entrypoint/main.py)."""
