"""Gateway filters: one per file, three kinds, all with the same small contract."""
