"""WebShop: a generated product catalogue in WebShop's schema, its goals, BM25 search, the
paper's reward, the text env, a Flask web site and a browser env driven by selenium."""

try:
    import bm25s  # noqa: F401
    import rapidfuzz  # noqa: F401
except ImportError as error:
    raise ImportError(
        f"WebShop needs the 'webshop' extra ({error.name} is missing): "
        "pip install 'archer-gym[webshop]'"
    ) from error
