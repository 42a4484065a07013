"""WebShop: a generated product catalogue in WebShop's schema, its goals, BM25 search, the
paper's reward, the text env, a Flask web site and a browser env driven by selenium."""
