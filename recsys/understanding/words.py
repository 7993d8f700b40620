"""Word tables of the lexicon parser (lexicon.py): genre synonyms, negation, numbers, cues for names and titles.

Conventions the labelled set (data/eval/intents.jsonl) follows too: "in French" / "French-language" is a
language, "a French film" / "from France" a country; "short" means at most 100 minutes and "not too long" at most
120; "recent" is the catalog's last ten years and "classic"/"old" means before 1980; "violent" maps to Horror.
"""

from __future__ import annotations

import re

# Surface forms -> canonical genre names (the default catalog's own). Multi-word forms first when matching.
GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "science fiction": ("Sci-Fi",), "sci-fi": ("Sci-Fi",), "sci fi": ("Sci-Fi",), "scifi": ("Sci-Fi",),
    "sf": ("Sci-Fi",), "science-fiction": ("Sci-Fi",), "space opera": ("Sci-Fi",), "sci-fis": ("Sci-Fi",),
    "comedy": ("Comedy",), "comedies": ("Comedy",), "funny": ("Comedy",), "hilarious": ("Comedy",),
    "comic": ("Comedy",), "humor": ("Comedy",), "humour": ("Comedy",), "laugh": ("Comedy",), "laughs": ("Comedy",),
    "funnier": ("Comedy",), "fun": ("Comedy",), "comedic": ("Comedy",), "slapstick": ("Comedy",),
    "commedy": ("Comedy",), "comdy": ("Comedy",), "rom-com": ("Romance", "Comedy"), "romcom": ("Romance", "Comedy"),
    "rom com": ("Romance", "Comedy"), "rom-coms": ("Romance", "Comedy"), "romcoms": ("Romance", "Comedy"),
    "rom coms": ("Romance", "Comedy"), "romantic comedy": ("Romance", "Comedy"),
    "romantic comedies": ("Romance", "Comedy"), "horror": ("Horror",), "scary": ("Horror",), "spooky": ("Horror",),
    "frightening": ("Horror",), "terrifying": ("Horror",), "slasher": ("Horror",), "slashers": ("Horror",),
    "gory": ("Horror",), "gore": ("Horror",), "horrors": ("Horror",), "horor": ("Horror",), "creepy": ("Horror",),
    "violent": ("Horror",), "violence": ("Horror",), "bloody": ("Horror",), "zombie": ("Horror",),
    "zombies": ("Horror",), "romance": ("Romance",), "romantic": ("Romance",), "love story": ("Romance",),
    "love stories": ("Romance",), "romances": ("Romance",), "romance-y": ("Romance",), "romancy": ("Romance",),
    "romace": ("Romance",), "action": ("Action",), "action-packed": ("Action",), "adventure": ("Adventure",),
    "adventures": ("Adventure",), "animation": ("Animation",), "animated": ("Animation",), "cartoon": ("Animation",),
    "cartoons": ("Animation",), "anime": ("Animation",), "pixar": ("Animation",), "documentary": ("Documentary",),
    "documentaries": ("Documentary",), "docs": ("Documentary",), "doc": ("Documentary",),
    "documentery": ("Documentary",), "drama": ("Drama",), "dramas": ("Drama",), "dramatic": ("Drama",),
    "thriller": ("Thriller",), "thrillers": ("Thriller",), "suspense": ("Thriller",), "suspenseful": ("Thriller",),
    "thriler": ("Thriller",), "tense": ("Thriller",), "crime": ("Crime",), "gangster": ("Crime",),
    "gangsters": ("Crime",), "heist": ("Crime",), "mafia": ("Crime",), "heists": ("Crime",), "mob": ("Crime",),
    "mystery": ("Mystery",), "mysteries": ("Mystery",), "whodunit": ("Mystery",), "whodunnit": ("Mystery",),
    "detective": ("Mystery",), "fantasy": ("Fantasy",), "war": ("War",), "wars": ("War",), "western": ("Western",),
    "westerns": ("Western",), "cowboy": ("Western",), "cowboys": ("Western",), "war films": ("War",),
    "war movies": ("War",), "musical": ("Musical",), "musicals": ("Musical",), "music": ("Music",),
    "family": ("Family",), "kids": ("Family",), "children": ("Family",), "children's": ("Family",),
    "family-friendly": ("Family",), "kid-friendly": ("Family",), "biopic": ("Biography",), "biopics": ("Biography",),
    "biography": ("Biography",), "biographical": ("Biography",), "history": ("History",), "historical": ("History",),
    "period piece": ("History",), "sport": ("Sport",), "sports": ("Sport",), "noir": ("Film-Noir",),
    "film noir": ("Film-Noir",), "film-noir": ("Film-Noir",),
}

# Single words that open a negation's scope in a request ("no horror", "skip musicals"); explain.grounding has
# its own, smaller CLAIM_NEGATORS for genre words a reason denies.
NEGATION_WORDS = {
    "no", "not", "nothing", "without", "avoid", "except", "never", "hate", "dont", "don't", "isn't", "isnt", "aren't",
    "none", "skip", "minus", "exclude", "excluding", "nor", "neither", "zero", "nope", "hates", "can't", "cant", "ban",
    "less", "non",
}
NEGATION_PHRASES = (
    "anything but", "but not", "rather not", "anything except", "other than", "no more", "too much", "sick of",
    "tired of", "not into", "don't want", "dont want", "do not want", "not a fan of", "can't stand", "cant stand",
    "can't handle", "cannot stand", "stay away from", "keep away from", "allergic to", "not in the mood for",
    "fed up with", "steer clear of", "leave out", "no more of", "had enough of", "not keen on", "please no",
    "not big on",
)
# Genre words that are adjectives: right before a genre noun they qualify it ("a funny horror film" is a horror
# comedy, both genres at once), where "funny or scary" or "horror, comedy" stay either one.
GENRE_ADJECTIVES = frozenset({"funny", "hilarious", "comic", "comedic", "scary", "spooky", "creepy", "frightening",
    "terrifying", "gory", "bloody", "violent", "romantic", "animated", "dramatic", "thrilling", "mysterious", "musical",
    "action-packed", "fantastical", "historical", "sci-fi", "scifi", "dark"})
# Mood words -> genre words added to the embedding query, never a filter: the default catalog's item text has no
# plot, so "sad" alone matches nothing but titles with "sad" in them, while "sad drama" finds dramas; and a mood
# is a leaning, not a rule ("a drama, nothing too depressing" still wants dramas). Negated moods add nothing.
MOOD_QUERY: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("sad", "tearjerker", "tearjerkers", "tear-jerker", "weepy", "heartbreaking", "depressing",
        "melancholy", "melancholic", "bittersweet", "emotional", "touching", "tragic", "poignant"), ("drama",)),
    **dict.fromkeys(("uplifting", "feel-good", "feelgood", "heartwarming", "heart-warming", "wholesome", "cheerful",
        "cheery", "upbeat", "lighthearted", "light-hearted", "cozy", "cosy", "charming"),
        ("comedy", "family")),
    **dict.fromkeys(("silly", "goofy", "quirky", "witty", "zany"), ("comedy",)),
    **dict.fromkeys(("gritty", "bleak", "hard-hitting", "brutal"), ("crime", "drama")),
    **dict.fromkeys(("exciting", "thrilling", "gripping", "intense", "adrenaline", "edge-of-your-seat"),
        ("action", "thriller")),
    **dict.fromkeys(("mind-bending", "mindbending", "trippy", "twisty", "surreal", "cerebral", "thought-provoking"),
        ("mystery", "sci-fi")),
    **dict.fromkeys(("epic", "sweeping"), ("adventure",)),
}
# Words before a place that make it the film's subject or setting ("about the Korean war", "set in Paris"), not
# where it was made.
TOPIC_MARKERS = frozenset({"about", "regarding", "concerning", "during", "set"})
# Words before "family" that make it a group of people, the film's subject ("a mafia family saga"), not the Family
# genre.
FAMILY_GROUPS = frozenset({"mafia", "mob", "crime", "gangster", "criminal", "royal", "dysfunctional", "rich",
    "immigrant", "farming", "political", "noble"})
# Words that close a negation's scope ("no horror but funny": "funny" is wanted).
SCOPE_BREAKERS = {
    "but", "though", "although", "however", "instead", "rather", "just", "only", "yet", "i", "want", "prefer",
    "please", "something", "maybe", "ideally", "like", "so", "more", "give", "show", "for", "now",
}
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "couple": 2, "pair": 2, "few": 3, "handful": 5,
}
DECADE_WORDS = {
    "twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950, "sixties": 1960, "seventies": 1970,
    "eighties": 1980, "nineties": 1990, "noughties": 2000, "aughts": 2000,
}
ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "last": -1,
    "1st": 1,
    "2nd": 2,
    "3rd": 3,
    "4th": 4,
    "5th": 5,
    "latter": -1,
    "former": 1,
    "middle": 2,
}
COUNT_NOUNS = [
    "films", "movies", "picks", "recommendations", "options", "suggestions", "titles", "ones", "flicks", "things",
    "more",
]

# Nationality words and common names -> catalog country names ("a Korean thriller", "made in the UK").
COUNTRY_ALIASES = {
    "french": "France", "italian": "Italy", "german": "Germany", "japanese": "Japan", "spanish": "Spain",
    "british": "United Kingdom", "english": "United Kingdom", "uk": "United Kingdom", "britain": "United Kingdom",
    "england": "United Kingdom", "american": "United States", "hollywood": "United States", "usa": "United States",
    "america": "United States", "korean": "South Korea", "korea": "South Korea", "south korean": "South Korea",
    "chinese": "People's Republic of China", "china": "People's Republic of China", "hong kong": "Hong Kong",
    "indian": "India", "bollywood": "India", "mexican": "Mexico", "swedish": "Sweden", "danish": "Denmark",
    "irish": "Ireland", "canadian": "Canada", "australian": "Australia", "aussie": "Australia", "russian": "Russia",
    "soviet": "Soviet Union", "brazilian": "Brazil", "iranian": "Iran", "argentinian": "Argentina",
    "argentine": "Argentina", "polish": "Poland", "dutch": "Netherlands", "norwegian": "Norway", "belgian": "Belgium",
    "swiss": "Switzerland", "austrian": "Austria", "israeli": "Israel", "greek": "Greece", "turkish": "Turkey",
    "thai": "Thailand", "finnish": "Finland", "czech": "Czech Republic", "hungarian": "Hungary",
    "scandinavian": "Sweden", "icelandic": "Iceland", "new zealand": "New Zealand", "taiwanese": "Taiwan",
    "portuguese": "Portugal", "romanian": "Romania", "south african": "South Africa",
}

# Words that steer the dialogue or fill a sentence: never part of the embedding query.
DIALOGUE_WORDS = {
    "older", "newer", "recent", "else", "more", "less", "other", "another", "different", "again", "shorter", "longer",
    "earlier", "later", "instead", "classic", "classics", "old", "new", "short", "long", "quick", "lighter", "darker",
    "similar", "same", "loved", "liked", "hated", "seen", "watched", "director", "actor", "actress", "minutes",
    "hours", "hour", "mins", "language", "country", "decade", "year", "era", "any", "length", "runtime",
}
FILLER = DIALOGUE_WORDS | {
    "a", "an", "the", "i", "me", "my", "want", "wanna", "would", "like", "please", "some", "something", "film",
    "films", "movie", "movies", "to", "watch", "for", "with", "and", "or", "of", "that", "is", "be", "can", "you",
    "recommend", "suggest", "show", "give", "find", "im", "i'm", "in", "mood", "it", "any", "anything", "tonight",
    "today", "but", "one", "ones", "good", "nice", "from", "made", "set", "picks", "pick", "could", "should", "maybe",
    "really", "very", "just", "too", "also", "are", "was", "were", "by", "on", "at", "about", "this", "these", "those",
    "them", "up", "i'd", "id", "let's", "lets", "we", "us", "our", "what", "how", "got", "get", "have", "has", "had",
    "do", "does", "did", "kind", "sort", "type", "bit", "lot", "little", "than", "then", "there", "here", "ok", "okay",
    "yeah", "yes", "hey", "hi", "hmm", "um", "uh", "well", "so", "now", "thanks", "thank", "need", "looking", "look",
    "searching", "search", "feel", "feeling", "night", "evening", "weekend", "perhaps", "sure", "which", "who",
    "where", "when", "will", "all", "stuff", "thing", "things", "recommendation", "recommendations", "suggestion",
    "suggestions", "option", "options", "flick", "flicks", "cinema", "see", "go", "going", "fine", "great", "cool",
    "awesome", "prefer", "preferably", "ideally", "actually", "honestly", "probably", "though", "still", "again",
    "mean", "wife", "husband", "friends", "girlfriend", "boyfriend", "partner", "family", "kids", "friend", "date",
    "tonight's", "i've", "ive", "i'll", "it's", "its", "that's", "if", "not", "no", "out", "into", "over", "under",
    "least", "most", "much", "many", "few", "couple", "same", "genre", "genres", "list", "whatever", "else", "ever",
    "time", "let", "say", "said", "think", "know", "alright", "right", "gonna", "around", "between", "after", "before",
    "since", "don't", "dont", "wants", "enjoy", "enjoyed", "fan", "fans", "love", "loves", "been", "being", "either",
    "both", "etc", "haha", "lol", "pls", "plz", "thx", "u", "ur", "rather", "watching", "forget", "matter", "matters",
    "care", "drop", "keep", "make", "instead",
}
# Common English words that are also film titles ("Up", "Her", "It"): never a title without a cue.
COMMON = (
    FILLER
    | NEGATION_WORDS
    | set(NUMBER_WORDS)
    | set(ORDINALS)
    | {
        "he", "she", "him", "her", "his", "they", "their", "your", "yours", "mine", "who", "why", "as", "if", "an",
        "long", "dark", "light", "heavy", "serious", "sad", "happy", "fun", "real", "true", "big", "small", "best",
        "top", "last", "next", "first", "some", "every", "each", "own", "way", "man", "woman", "men", "women", "life",
        "love", "home", "world", "people", "story", "stories", "day", "days", "night", "nights", "house", "end",
        "start", "over", "reset", "help", "hello", "bye", "goodbye", "cheers", "funny", "english", "minutes", "hours",
        "year", "years", "decade", "today", "tomorrow", "yesterday", "clear", "everything", "nothing", "fresh",
        "scratch", "seen", "loved", "hated", "liked", "made", "make", "directed", "wrote", "written", "stars", "star",
        "starring", "cast", "plot", "rating", "runtime", "language", "country", "director", "writer", "actor",
        "actress", "actors", "french", "german", "italian", "spanish", "japanese", "korean", "in", "out", "off",
        "older", "newer", "shorter", "longer", "darker", "lighter", "similar", "different", "family", "mood",
    }
)

TITLE_CUES = {
    "like", "seen", "watched", "than", "as", "loved", "liked", "hated", "disliked", "enjoyed", "saw", "adored",
    "directed", "wrote", "similar to", "such as", "like the", "love", "rewatched", "vibes", "vibe", "tone of",
    "style of", "hate", "same as", "made", "long is", "old is", "stars in", "starred in", "remake of", "vein of",
    "director of",
}
PERSON_CUES = {
    "by", "with", "starring", "featuring", "director", "actor", "actress", "directed by", "written by", "stars",
    "star", "from director", "filmmaker", "feat", "has",
}

TOKEN_RE = re.compile(r"[^\W_]+(?:[-'.][^\W_]+)*|[.,;:!?()\"]")  # any script's letters: "Amélie", "Gérard"


def message_tokens(text: str) -> list[str]:
    """Lower-case word and punctuation tokens of a message, as the lexicon parser reads it."""
    return [t.lower() for t in TOKEN_RE.findall(text.replace("’", "'"))]
