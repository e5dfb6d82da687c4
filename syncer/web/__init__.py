"""`okrsync serve`: a read-only dashboard over the store, server-rendered, no JavaScript.

    charts.py   pure: series in, SVG markup out (drawn on the server, so no script runs)
    pages.py    pure: the report model cut into each page's rows, filters and JSON twin
    app.py      the shell: a Starlette app reading the store per request, with a strict
                Content-Security-Policy, optional auth and no write endpoint
"""
