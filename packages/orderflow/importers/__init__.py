"""Importers that rebuild order books from exchange feeds into the seed's input schema.

Users' data comes from exchange recordings, not from our generator, so each
format module replays its feed with the exchange's own sequencing rules and the
shared sink samples the rebuilt books onto the ``book``/``trades`` tables.
"""

__all__: list[str] = []
