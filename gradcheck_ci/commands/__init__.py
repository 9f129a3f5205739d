"""The command line: `check` (a run and its console), `changes`, `replay`, `docker`, and the parser
that routes to them."""
