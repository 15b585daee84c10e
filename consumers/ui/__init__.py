"""`rca ui`: the live incident page (consumers/ui/server.py, static/index.html)."""
