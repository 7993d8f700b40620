"""Word tables, cue patterns and the text-only slot readers (years, runtime) of the lexicon parser (lexicon.py).

Conventions the labelled set (data/eval/intents.jsonl) follows too: "in French" / "French-language" is a
language, "a French film" / "from France" a country; "short" means at most 100 minutes and "not too long" at most
120; "recent" is the catalog's last ten years and "classic"/"old" means before 1980; "violent" maps to Horror.
"""

from __future__ import annotations

import re

# Surface forms -> canonical genre names (the default catalog's own). Multi-word forms first when matching.
GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "science fiction": ("Sci-Fi",),
    "sci-fi": ("Sci-Fi",),
    "sci fi": ("Sci-Fi",),
    "scifi": ("Sci-Fi",),
    "sf": ("Sci-Fi",),
    "science-fiction": ("Sci-Fi",),
    "space opera": ("Sci-Fi",),
    "sci-fis": ("Sci-Fi",),
    "comedy": ("Comedy",),
    "comedies": ("Comedy",),
    "funny": ("Comedy",),
    "hilarious": ("Comedy",),
    "comic": ("Comedy",),
    "humor": ("Comedy",),
    "humour": ("Comedy",),
    "laugh": ("Comedy",),
    "laughs": ("Comedy",),
    "funnier": ("Comedy",),
    "fun": ("Comedy",),
    "comedic": ("Comedy",),
    "slapstick": ("Comedy",),
    "commedy": ("Comedy",),
    "comdy": ("Comedy",),
    "rom-com": ("Romance", "Comedy"),
    "romcom": ("Romance", "Comedy"),
    "rom com": ("Romance", "Comedy"),
    "rom-coms": ("Romance", "Comedy"),
    "romcoms": ("Romance", "Comedy"),
    "rom coms": ("Romance", "Comedy"),
    "romantic comedy": ("Romance", "Comedy"),
    "romantic comedies": ("Romance", "Comedy"),
    "horror": ("Horror",),
    "scary": ("Horror",),
    "spooky": ("Horror",),
    "frightening": ("Horror",),
    "terrifying": ("Horror",),
    "slasher": ("Horror",),
    "slashers": ("Horror",),
    "gory": ("Horror",),
    "gore": ("Horror",),
    "horrors": ("Horror",),
    "horor": ("Horror",),
    "creepy": ("Horror",),
    "violent": ("Horror",),
    "violence": ("Horror",),
    "bloody": ("Horror",),
    "zombie": ("Horror",),
    "zombies": ("Horror",),
    "romance": ("Romance",),
    "romantic": ("Romance",),
    "love story": ("Romance",),
    "love stories": ("Romance",),
    "romances": ("Romance",),
    "romance-y": ("Romance",),
    "romancy": ("Romance",),
    "romace": ("Romance",),
    "action": ("Action",),
    "action-packed": ("Action",),
    "adventure": ("Adventure",),
    "adventures": ("Adventure",),
    "animation": ("Animation",),
    "animated": ("Animation",),
    "cartoon": ("Animation",),
    "cartoons": ("Animation",),
    "anime": ("Animation",),
    "pixar": ("Animation",),
    "documentary": ("Documentary",),
    "documentaries": ("Documentary",),
    "docs": ("Documentary",),
    "doc": ("Documentary",),
    "documentery": ("Documentary",),
    "drama": ("Drama",),
    "dramas": ("Drama",),
    "dramatic": ("Drama",),
    "thriller": ("Thriller",),
    "thrillers": ("Thriller",),
    "suspense": ("Thriller",),
    "suspenseful": ("Thriller",),
    "thriler": ("Thriller",),
    "tense": ("Thriller",),
    "crime": ("Crime",),
    "gangster": ("Crime",),
    "gangsters": ("Crime",),
    "heist": ("Crime",),
    "mafia": ("Crime",),
    "heists": ("Crime",),
    "mob": ("Crime",),
    "mystery": ("Mystery",),
    "mysteries": ("Mystery",),
    "whodunit": ("Mystery",),
    "whodunnit": ("Mystery",),
    "detective": ("Mystery",),
    "fantasy": ("Fantasy",),
    "war": ("War",),
    "wars": ("War",),
    "western": ("Western",),
    "westerns": ("Western",),
    "cowboy": ("Western",),
    "cowboys": ("Western",),
    "war films": ("War",),
    "war movies": ("War",),
    "musical": ("Musical",),
    "musicals": ("Musical",),
    "music": ("Music",),
    "family": ("Family",),
    "kids": ("Family",),
    "children": ("Family",),
    "children's": ("Family",),
    "family-friendly": ("Family",),
    "kid-friendly": ("Family",),
    "biopic": ("Biography",),
    "biopics": ("Biography",),
    "biography": ("Biography",),
    "biographical": ("Biography",),
    "history": ("History",),
    "historical": ("History",),
    "period piece": ("History",),
    "sport": ("Sport",),
    "sports": ("Sport",),
    "noir": ("Film-Noir",),
    "film noir": ("Film-Noir",),
    "film-noir": ("Film-Noir",),
}

# Single words that open a negation's scope in a request ("no horror", "skip musicals"); explain.grounding has
# its own, smaller CLAIM_NEGATORS for genre words a reason denies.
NEGATION_WORDS = {
    "no",
    "not",
    "nothing",
    "without",
    "avoid",
    "except",
    "never",
    "hate",
    "dont",
    "don't",
    "isn't",
    "isnt",
    "aren't",
    "none",
    "skip",
    "minus",
    "exclude",
    "excluding",
    "nor",
    "neither",
    "zero",
    "nope",
    "hates",
    "can't",
    "cant",
    "ban",
    "less",
    "non",
}
NEGATION_PHRASES = (
    "anything but",
    "but not",
    "rather not",
    "anything except",
    "other than",
    "no more",
    "too much",
    "sick of",
    "tired of",
    "not into",
    "don't want",
    "dont want",
    "do not want",
    "not a fan of",
    "can't stand",
    "cant stand",
    "can't handle",
    "cannot stand",
    "stay away from",
    "keep away from",
    "allergic to",
    "not in the mood for",
    "fed up with",
    "steer clear of",
    "leave out",
    "no more of",
    "had enough of",
    "not keen on",
    "please no",
    "not big on",
)
# Words that close a negation's scope ("no horror but funny": "funny" is wanted).
SCOPE_BREAKERS = {
    "but",
    "though",
    "although",
    "however",
    "instead",
    "rather",
    "just",
    "only",
    "yet",
    "i",
    "want",
    "prefer",
    "please",
    "something",
    "maybe",
    "ideally",
    "like",
    "so",
    "more",
    "give",
    "show",
    "for",
    "now",
}
NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "couple": 2,
    "pair": 2,
    "few": 3,
    "handful": 5,
}
DECADE_WORDS = {
    "twenties": 1920,
    "thirties": 1930,
    "forties": 1940,
    "fifties": 1950,
    "sixties": 1960,
    "seventies": 1970,
    "eighties": 1980,
    "nineties": 1990,
    "noughties": 2000,
    "aughts": 2000,
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
    "films",
    "movies",
    "picks",
    "recommendations",
    "options",
    "suggestions",
    "titles",
    "ones",
    "flicks",
    "things",
    "more",
]

# Nationality words and common names -> catalog country names ("a Korean thriller", "made in the UK").
COUNTRY_ALIASES = {
    "french": "France",
    "italian": "Italy",
    "german": "Germany",
    "japanese": "Japan",
    "spanish": "Spain",
    "british": "United Kingdom",
    "english": "United Kingdom",
    "uk": "United Kingdom",
    "britain": "United Kingdom",
    "england": "United Kingdom",
    "american": "United States",
    "hollywood": "United States",
    "usa": "United States",
    "america": "United States",
    "korean": "South Korea",
    "korea": "South Korea",
    "south korean": "South Korea",
    "chinese": "People's Republic of China",
    "china": "People's Republic of China",
    "hong kong": "Hong Kong",
    "indian": "India",
    "bollywood": "India",
    "mexican": "Mexico",
    "swedish": "Sweden",
    "danish": "Denmark",
    "irish": "Ireland",
    "canadian": "Canada",
    "australian": "Australia",
    "aussie": "Australia",
    "russian": "Russia",
    "soviet": "Soviet Union",
    "brazilian": "Brazil",
    "iranian": "Iran",
    "argentinian": "Argentina",
    "argentine": "Argentina",
    "polish": "Poland",
    "dutch": "Netherlands",
    "norwegian": "Norway",
    "belgian": "Belgium",
    "swiss": "Switzerland",
    "austrian": "Austria",
    "israeli": "Israel",
    "greek": "Greece",
    "turkish": "Turkey",
    "thai": "Thailand",
    "finnish": "Finland",
    "czech": "Czech Republic",
    "hungarian": "Hungary",
    "scandinavian": "Sweden",
    "icelandic": "Iceland",
    "new zealand": "New Zealand",
    "taiwanese": "Taiwan",
    "portuguese": "Portugal",
    "romanian": "Romania",
    "south african": "South Africa",
}

# Words that steer the dialogue or fill a sentence: never part of the embedding query.
DIALOGUE_WORDS = {
    "older",
    "newer",
    "recent",
    "else",
    "more",
    "less",
    "other",
    "another",
    "different",
    "again",
    "shorter",
    "longer",
    "earlier",
    "later",
    "instead",
    "classic",
    "classics",
    "old",
    "new",
    "short",
    "long",
    "quick",
    "lighter",
    "darker",
    "similar",
    "same",
    "loved",
    "liked",
    "hated",
    "seen",
    "watched",
    "director",
    "actor",
    "actress",
    "minutes",
    "hours",
    "hour",
    "mins",
    "language",
    "country",
    "decade",
    "year",
    "era",
    "any",
    "length",
    "runtime",
}
FILLER = DIALOGUE_WORDS | {
    "a",
    "an",
    "the",
    "i",
    "me",
    "my",
    "want",
    "wanna",
    "would",
    "like",
    "please",
    "some",
    "something",
    "film",
    "films",
    "movie",
    "movies",
    "to",
    "watch",
    "for",
    "with",
    "and",
    "or",
    "of",
    "that",
    "is",
    "be",
    "can",
    "you",
    "recommend",
    "suggest",
    "show",
    "give",
    "find",
    "im",
    "i'm",
    "in",
    "mood",
    "it",
    "any",
    "anything",
    "tonight",
    "today",
    "but",
    "one",
    "ones",
    "good",
    "nice",
    "from",
    "made",
    "set",
    "picks",
    "pick",
    "could",
    "should",
    "maybe",
    "really",
    "very",
    "just",
    "too",
    "also",
    "are",
    "was",
    "were",
    "by",
    "on",
    "at",
    "about",
    "this",
    "these",
    "those",
    "them",
    "up",
    "i'd",
    "id",
    "let's",
    "lets",
    "we",
    "us",
    "our",
    "what",
    "how",
    "got",
    "get",
    "have",
    "has",
    "had",
    "do",
    "does",
    "did",
    "kind",
    "sort",
    "type",
    "bit",
    "lot",
    "little",
    "than",
    "then",
    "there",
    "here",
    "ok",
    "okay",
    "yeah",
    "yes",
    "hey",
    "hi",
    "hmm",
    "um",
    "uh",
    "well",
    "so",
    "now",
    "thanks",
    "thank",
    "need",
    "looking",
    "look",
    "searching",
    "search",
    "feel",
    "feeling",
    "night",
    "evening",
    "weekend",
    "perhaps",
    "sure",
    "which",
    "who",
    "where",
    "when",
    "will",
    "all",
    "stuff",
    "thing",
    "things",
    "recommendation",
    "recommendations",
    "suggestion",
    "suggestions",
    "option",
    "options",
    "flick",
    "flicks",
    "cinema",
    "see",
    "go",
    "going",
    "fine",
    "great",
    "cool",
    "awesome",
    "prefer",
    "preferably",
    "ideally",
    "actually",
    "honestly",
    "probably",
    "though",
    "still",
    "again",
    "mean",
    "wife",
    "husband",
    "friends",
    "girlfriend",
    "boyfriend",
    "partner",
    "family",
    "kids",
    "friend",
    "date",
    "tonight's",
    "i've",
    "ive",
    "i'll",
    "it's",
    "its",
    "that's",
    "if",
    "not",
    "no",
    "out",
    "into",
    "over",
    "under",
    "least",
    "most",
    "much",
    "many",
    "few",
    "couple",
    "same",
    "genre",
    "genres",
    "list",
    "whatever",
    "else",
    "ever",
    "time",
    "let",
    "say",
    "said",
    "think",
    "know",
    "alright",
    "right",
    "gonna",
    "around",
    "between",
    "after",
    "before",
    "since",
    "don't",
    "dont",
    "wants",
    "enjoy",
    "enjoyed",
    "fan",
    "fans",
    "love",
    "loves",
    "been",
    "being",
    "either",
    "both",
    "etc",
    "haha",
    "lol",
    "pls",
    "plz",
    "thx",
    "u",
    "ur",
    "rather",
    "watching",
    "forget",
    "matter",
    "matters",
    "care",
    "drop",
    "keep",
    "make",
    "instead",
}
# Common English words that are also film titles ("Up", "Her", "It"): never a title without a cue.
COMMON = (
    FILLER
    | NEGATION_WORDS
    | set(NUMBER_WORDS)
    | set(ORDINALS)
    | {
        "he",
        "she",
        "him",
        "her",
        "his",
        "they",
        "their",
        "your",
        "yours",
        "mine",
        "who",
        "why",
        "as",
        "if",
        "an",
        "long",
        "dark",
        "light",
        "heavy",
        "serious",
        "sad",
        "happy",
        "fun",
        "real",
        "true",
        "big",
        "small",
        "best",
        "top",
        "last",
        "next",
        "first",
        "some",
        "every",
        "each",
        "own",
        "way",
        "man",
        "woman",
        "men",
        "women",
        "life",
        "love",
        "home",
        "world",
        "people",
        "story",
        "stories",
        "day",
        "days",
        "night",
        "nights",
        "house",
        "end",
        "start",
        "over",
        "reset",
        "help",
        "hello",
        "bye",
        "goodbye",
        "cheers",
        "funny",
        "english",
        "minutes",
        "hours",
        "year",
        "years",
        "decade",
        "today",
        "tomorrow",
        "yesterday",
        "clear",
        "everything",
        "nothing",
        "fresh",
        "scratch",
        "seen",
        "loved",
        "hated",
        "liked",
        "made",
        "make",
        "directed",
        "wrote",
        "written",
        "stars",
        "star",
        "starring",
        "cast",
        "plot",
        "rating",
        "runtime",
        "language",
        "country",
        "director",
        "writer",
        "actor",
        "actress",
        "actors",
        "french",
        "german",
        "italian",
        "spanish",
        "japanese",
        "korean",
        "in",
        "out",
        "off",
        "older",
        "newer",
        "shorter",
        "longer",
        "darker",
        "lighter",
        "similar",
        "different",
        "family",
        "mood",
    }
)

TITLE_CUES = {
    "like",
    "seen",
    "watched",
    "than",
    "as",
    "loved",
    "liked",
    "hated",
    "disliked",
    "enjoyed",
    "saw",
    "adored",
    "directed",
    "wrote",
    "similar to",
    "such as",
    "like the",
    "love",
    "rewatched",
    "vibes",
    "vibe",
    "tone of",
    "style of",
    "hate",
    "same as",
    "made",
    "long is",
    "old is",
    "stars in",
    "starred in",
    "remake of",
    "vein of",
    "director of",
}
PERSON_CUES = {
    "by",
    "with",
    "starring",
    "featuring",
    "director",
    "actor",
    "actress",
    "directed by",
    "written by",
    "stars",
    "star",
    "from director",
    "filmmaker",
    "feat",
    "has",
}

RESET_RE = re.compile(
    r"\b(start over|start again|starting over|reset|clear (everything|all|filters|it|the filters)|"
    r"forget (everything|it all|all that|all of that|what i said)|new search|from scratch|"
    r"begin again|fresh start|let's restart|restart|clean slate)\b"
)
MORE_RE = re.compile(
    r"\b(something else|anything else|more( please)?$|other (ones|options|films|movies|picks)|"
    r"different (ones|films|movies|picks)|show me more|more of (those|these|them)|another( one)?\b|"
    r"next|more suggestions|more options|more recommendations|give me more|any others|"
    r"not these|none of these|none of those|what else|else\b)"
)
GREETING_RE = re.compile(
    r"^(hi|hello|hey|yo|thanks|thank you|cheers|good (morning|evening|night)|how are you|bye|"
    r"ok|okay|cool|great|nice|lol|haha|what's up|whats up|sup|goodbye|awesome|perfect)\b"
)
WANT_RE = re.compile(
    r"\b(film|films|movie|movies|watch|recommend|recommendation|suggest|show me|something|"
    r"anything|picks?|flick|flicks|cinema|looking for|in the mood|give me|find me|want|need|"
    r"fancy|any good)\b"
)

REFINE_RES: list[tuple[str, re.Pattern[str]]] = [
    ("older", re.compile(r"\b(older|earlier ones|less recent|more classic|not so new|not as new|less modern)\b")),
    ("newer", re.compile(r"\b(newer|more recent|more modern|less old|not so old|not as old|fresher)\b")),
    ("shorter", re.compile(r"\b(shorter|less long|not as long|not so long)\b")),
    ("longer", re.compile(r"\b(longer|not as short|less short)\b")),
    (
        "lighter",
        re.compile(
            r"\b(lighter|less dark|less heavy|less serious|more upbeat|happier|more cheerful|"
            r"less depressing|less grim|more fun|less intense|less bleak|"
            r"less sad|not as dark|not so dark|not as heavy)\b"
        ),
    ),
    (
        "darker",
        re.compile(
            r"\b(darker|more serious|grittier|more intense|bleaker|heavier|edgier|more disturbing|"
            r"less light|less cheesy)\b"
        ),
    ),
    (
        "same_director",
        re.compile(
            r"\b(same director|that director|this director|the director's|by (him|her|them)|"
            r"(more|other|others) (films |movies |ones )?(by|from) (this|that|the same) "
            r"(director|filmmaker|guy|person)|(he|she) (also )?directed|same filmmaker|"
            r"from the director|by the director|director of (the|that|this))\b"
        ),
    ),
    (
        "same_cast",
        re.compile(
            r"\b(same (actor|actress|cast|star|lead)|that (actor|actress|star)|"
            r"this (actor|actress|star)|with (him|her) in it|(he|she)'?s in|"
            r"(other|more) (films |movies |ones )?with (him|her|them|that actor|that actress))\b"
        ),
    ),
    (
        "similar",
        re.compile(
            r"\b(more like|similar to (the )?(first|second|third|fourth|fifth|last|that|this|it|#|"
            r"number)|like the (first|second|third|fourth|fifth|last|1st|2nd|3rd) one|"
            r"something like (that|this|it)|like that one|like this one|in the same vein|"
            r"along those lines|same vibe|similar ones|similar films|similar movies)\b"
        ),
    ),
]
FEEDBACK_RES: list[tuple[str, re.Pattern[str]]] = [
    (
        "seen",
        re.compile(
            r"\b(i('ve| have)? (already |also )?(seen|watched|saw)|already (seen|watched|saw)|"
            r"seen (it|that|this|them|those|all)|watched (it|that|this) already|saw (it|that)|"
            r"i know (it|that one)|been there)\b"
        ),
    ),
    (
        "disliked",
        re.compile(
            r"\b(not the (first|second|third|fourth|fifth|last|1st|2nd|3rd)( one)?|"
            r"i (hated|disliked|didn't like|did not like)|"
            r"hated (it|that)|(didn't|did not|don't|dont) like (it|that)|not (that|this) one|"
            r"(it|that|this)( one)? (was|is|looks|sounds) (boring|awful|bad|terrible|dull|meh)|"
            r"not for me|no to the|thumbs down|(was|looks|sounds) (terrible|awful|boring|bad)|"
            r"(drop|remove|ditch|scrap) the (first|second|third|last))\b"
        ),
    ),
    (
        "liked",
        re.compile(
            r"\b(i (loved|liked|enjoyed|adored|love|like) (it|that|this|the|them)|loved (it|that|this)|"
            r"love (it|that|this)|(it|that|this)( one)? (was|is|looks|sounds) (great|amazing|good|"
            r"perfect|fantastic|brilliant|excellent|lovely)|great (pick|choice|one)|thumbs up|"
            r"i (loved|liked|enjoyed|adored)|my favou?rite|(the )?(first|second|third|last) one "
            r"(was|is) (great|good|amazing)|(loved|liked|enjoyed) the (first|second|third|last) one|"
            r"(the )?(first|second|third|last) one "
            r"(looks|sounds) (good|great))\b"
        ),
    ),
]
# attribute asked about -> cue; first match wins
ASK_ATTRS: list[tuple[str, re.Pattern[str]]] = [
    ("director", re.compile(r"\b(who directed|directed by|director|who made|who was behind|who's the director)\b")),
    ("writer", re.compile(r"\b(who wrote|written by|writer|screenplay|script)\b")),
    (
        "cast",
        re.compile(
            r"\b(who('s| is| are)? (in|starring|stars)|who stars|cast|actors?|actress|starring|lead|"
            r"who plays)\b"
        ),
    ),
    ("runtime", re.compile(r"\b(how long|runtime|run time|length|how many minutes|minutes long|hours long)\b")),
    ("year", re.compile(r"\b(when (was|did|is)|what year|which year|how old|released|come out|came out)\b")),
    (
        "language",
        re.compile(
            r"\b(language|in (english|french|spanish|german|italian|japanese|korean|hindi|"
            r"russian|mandarin|chinese|swedish|danish)|subtitle|subtitles|dubbed)\b"
        ),
    ),
    (
        "country",
        re.compile(
            r"\b(what country|which country|where was it (made|filmed|shot)|where is it from|"
            r"where's it from|where was it from|is it (french|american|british|italian|japanese|"
            r"korean|german|spanish|indian))\b"
        ),
    ),
    (
        "genre",
        re.compile(
            r"\b(what genre|which genre|what kind of (film|movie)|is it (a |an )?(comedy|horror|"
            r"drama|thriller|romance|western|musical|documentary|scary|funny)|is it scary|"
            r"is it funny)\b"
        ),
    ),
    (
        "rating",
        re.compile(
            r"\b(rating|rated|score|reviews?|is it (any )?good|any good|how good|worth (it|watching)|"
            r"metacritic|critics)\b"
        ),
    ),
    ("plot", re.compile(r"\b(about|plot|story|synopsis|what happens|tell me (more )?about)\b")),
]
CLEAR_RES: list[tuple[str, re.Pattern[str]]] = [
    (
        "years",
        re.compile(
            r"\b(any (year|decade|era|period|time)|(year|decade|era|date)s? (doesn't|don't|does not) "
            r"matter|forget the (year|decade|date|era)s?|drop the (year|decade|date)s?|"
            r"don't care (about|when)|whenever)\b"
        ),
    ),
    (
        "runtime",
        re.compile(
            r"\b(any (length|runtime|duration)|(length|runtime) (doesn't|does not) matter|"
            r"forget the (length|runtime)|drop the (length|runtime|time limit))\b"
        ),
    ),
    (
        "languages",
        re.compile(
            r"\b(any language|(language) (doesn't|does not) matter|forget the language|"
            r"drop the language)\b"
        ),
    ),
    (
        "countries",
        re.compile(
            r"\b(any country|from anywhere|(country) (doesn't|does not) matter|"
            r"forget the country|drop the country)\b"
        ),
    ),
    (
        "people",
        re.compile(
            r"\b(any (director|actor|actress|cast)|forget the (director|actor|actress)|"
            r"drop the (director|actor|actress)|(director|actor) (doesn't|does not) matter)\b"
        ),
    ),
    ("genres", re.compile(r"\b(any genre|(genre) (doesn't|does not) matter|forget the genre|drop the genre)\b")),
]


TOKEN_RE = re.compile(r"[^\W_]+(?:[-'.][^\W_]+)*|[.,;:!?()\"]")  # any script's letters: "Amélie", "Gérard"


def message_tokens(text: str) -> list[str]:
    """Lower-case word and punctuation tokens of a message, as the lexicon parser reads it."""
    return [t.lower() for t in TOKEN_RE.findall(text.replace("’", "'"))]


NUM = r"(\d+(?:\.\d+)?|an?|one|two|three|four|five|half an?)"
RUNTIME_RE = re.compile(
    r"\b(under|less than|shorter than|no more than|no longer than|not more than|not over|at most|max(?:imum)?|below|"
    r"within|up to|over|more than|longer than|at least|above|minimum|min)\s+"
    + NUM
    + r"(?:\s+and a half)?\s*(hours?|hrs?|h|minutes?|mins?)\b(?:\s+and a half)?"
)


STRICT_BOUND = {
    "under": 1,
    "less than": 1,
    "shorter than": 1,
    "below": 1,
    "over": 1,
    "more than": 1,
    "longer than": 1,
    "above": 1,
}


def _number(word: str) -> float:
    """'two' -> 2, '1.5' -> 1.5, 'an' -> 1, 'half an' -> 0.5."""
    if word.startswith("half"):
        return 0.5
    if word in ("a", "an"):
        return 1
    return float(word) if word[0].isdigit() else NUMBER_WORDS[word]


def parse_years(text: str, drop: list[tuple[int, int]], newest_year: int) -> tuple[int | None, int | None]:
    """(year_min, year_max) from decades, ranges, comparisons and "recent"/"classic"; spans go to `drop`."""
    lo = hi = None
    decades: list[tuple[int, int]] = []

    def full(y: str) -> int:
        """A two-digit year as a full one ("85" -> 1985, "05" -> 2005); four digits stay."""
        n = int(y)
        return n if n >= 100 else (1900 + n if n >= 20 else 2000 + n)

    for m in re.finditer(r"\bbetween (\d{4}) and (\d{4})\b|\b(\d{4}) ?(?:-|to|–|and) ?(\d{4})\b", text):
        a, b = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        lo, hi = min(int(a), int(b)), max(int(a), int(b))
        drop.append(m.span())
    for m in re.finditer(r"\b(?:the )?(?:(early|mid|late)[ -])?(\d{2}|\d{4})'?s\b", text):
        base = full(m.group(2))
        if base % 10 or any(a <= m.start() < b for a, b in drop):
            continue
        a, b = base, base + 9
        a, b = {"early": (a, a + 3), "mid": (a + 3, a + 6), "late": (a + 6, b)}.get(m.group(1) or "", (a, b))
        lo, hi = a, b
        decades.append((a, b))
        drop.append(m.span())
    for word, base in DECADE_WORDS.items():
        for m in re.finditer(rf"\b(?:(early|mid|late)[ -])?{word}\b", text):
            lo, hi = {"early": (base, base + 3), "mid": (base + 3, base + 6), "late": (base + 6, base + 9)}.get(
                m.group(1) or "", (base, base + 9)
            )
            decades.append((lo, hi))
            drop.append(m.span())
    if len(decades) > 1:  # "the forties or fifties", "60s to 80s": the span of all of them
        lo, hi = min(d[0] for d in decades), max(d[1] for d in decades)
    for m in re.finditer(
        r"\b(before|earlier than|older than|prior to|until|up to|pre|after|later than|newer "
        r"than|since|from|in|made in|released in|post|not before|not after|nothing (?:made |"
        r"released )?(?:after|before))[ -](\d{4})\b",
        text,
    ):
        word, year = m.group(1), int(m.group(2))
        if word.startswith("nothing"):
            word = "not after" if word.endswith("after") else "not before"
        if any(a <= m.start() < b for a, b in drop):
            continue
        if word in ("before", "earlier than", "older than", "prior to", "pre", "not after"):
            hi = year - 1 if word != "not after" else year
        elif word in ("until", "up to"):
            hi = year
        elif word in ("after", "later than", "newer than", "post"):
            lo = year + 1
        elif word in ("since", "not before"):
            lo = year
        else:  # "from 1985", "in 1985"
            lo, hi = year, year
        drop.append(m.span())
    for m in re.finditer(
        r"\b(?<!more )(recent|newer releases|latest|modern|new releases|brand new|last few years)\b", text
    ):
        lo = lo if lo is not None else newest_year - 9
        drop.append(m.span())
    for m in re.finditer(r"\b(classic|classics|old-school|old school|golden age|vintage|old|oldies)\b", text):
        hi = hi if hi is not None else 1979
        drop.append(m.span())
    return lo, hi


def parse_runtime(text: str, drop: list[tuple[int, int]]) -> tuple[int | None, int | None]:
    """(runtime_min, runtime_max) in minutes: "under two hours", "at least 90 minutes", "not too long"."""
    lo = hi = None
    for m in RUNTIME_RE.finditer(text):
        amount = _number(m.group(2)) + (0.5 if "and a half" in m.group(0) else 0)
        minutes = int(round(amount * 60 if m.group(3).startswith("h") else amount))
        negated = re.search(r"\b(nothing|not|no|never)\s*$", text[: m.start()]) is not None
        # bounds are inclusive: "under 90" is at most 89, "over 3 hours" at least 181; "at most 90", "nothing
        # longer than 90" and "at least 120" keep the number itself
        strict = 0 if negated else STRICT_BOUND.get(m.group(1), 0)
        if (m.group(1) in ("over", "more than", "longer than", "at least", "above", "minimum", "min")) != negated:
            lo = minutes + strict
        else:
            hi = minutes - strict
        drop.append(m.span())
    for m in re.finditer(
        r"\b(not too long|not very long|not long|not overly long|nothing too long|"
        r"not a long one|shortish|(?:a |something )?short|quick (?:one|watch)|)\b",
        text,
    ):
        if m.group(0):
            hi = hi if hi is not None else (120 if "long" in m.group(0) else 100)
            drop.append(m.span())
    for m in re.finditer(r"\b(long epic|epic length|lengthy|a long (?:one|film|movie)|three hours)\b", text):
        lo = lo if lo is not None else 150
        drop.append(m.span())
    return lo, hi
