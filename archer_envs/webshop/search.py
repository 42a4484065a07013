"""BM25 search over the catalogue, as WebShop's search engine: each product is indexed by its
title, description, first bullet point and option values. Results are deterministic (ties go to
the lower product index) and paged."""

from __future__ import annotations

import re
from array import array

import bm25s
import numpy as np

from archer_envs.webshop.catalog import Catalog

RESULTS_PER_PAGE = 10
MAX_RESULTS = 50  # WebShop's engine returns the top 50

STOPWORDS = frozenset(
    "a an and are as at be but by for from has have i i'd i'm in into is it its me my need of on "
    "or our please some that that's the their them then there these they this to want was we "
    "which will with would you your can get find show looking like buy shopping".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased words without stopwords, plurals folded ("shoes" -> "shoe")."""
    tokens = []
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if word in STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        tokens.append(word)
    return tokens


class SearchEngine:
    """A bm25s index of a catalogue."""

    def __init__(self, catalog: Catalog, progress: bool = False):
        self.catalog = catalog
        # documents as compact arrays of token ids (4 bytes a token): a 1.18M-product index
        # then fits in a few GiB where lists of strings would not
        vocabulary: dict[str, int] = {}
        documents = [
            array("i", [vocabulary.setdefault(t, len(vocabulary)) for t in tokenize(text)])
            for text in catalog.search_texts()
        ]
        self.bm25 = bm25s.BM25()
        self.bm25.index((documents, vocabulary), show_progress=progress)
        self._vocabulary = self.bm25.vocab_dict

    def search(self, query: str, limit: int = MAX_RESULTS) -> list[int]:
        """Indices of the best ``limit`` products for ``query``, best first; products that
        share no word with the query are never returned."""
        tokens = [t for t in tokenize(query) if t in self._vocabulary]
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        positive = int(np.count_nonzero(scores > 0))
        count = min(limit, positive)
        if count == 0:
            return []
        # the top `count` scores, then a stable order: higher score first, lower index on ties
        top = np.argpartition(-scores, count - 1)[:count]
        threshold = scores[top].min()
        candidates = np.flatnonzero(scores >= threshold)
        order = np.lexsort((candidates, -scores[candidates]))
        return candidates[order][:count].tolist()

    def page(
        self, query: str, page: int = 1, per_page: int = RESULTS_PER_PAGE
    ) -> tuple[list[int], int]:
        """(product indices on ``page`` (1-based), total number of results)."""
        if page < 1:
            raise ValueError(f"page must be at least 1, got {page}")
        results = self.search(query)
        return results[(page - 1) * per_page : page * per_page], len(results)
