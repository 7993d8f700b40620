"""The items: the catalog and its sources, the people/films graph, rating files mapped to it."""
