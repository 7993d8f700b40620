"""Message text to Intent: the lexicon parser, its word tables, the generator parser."""
