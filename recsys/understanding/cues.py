"""Cue patterns of the lexicon parser: what marks a reset, "more", a greeting, a refinement ("older", "less dark"),
feedback in words ("I really liked Heat"), a question about a film, or a cleared slot ("any decade").

Each is a compiled regex over the lower-cased message; lists of (name, pattern) are tried in order.
"""

from __future__ import annotations

import re

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
            r"i (really |truly |absolutely )?(hated|disliked|didn't like|did not like)|"
            r"hated (it|that)|(didn't|did not|don't|dont) like (it|that)|not (that|this) one|"
            r"(it|that|this)( one)? (was|is|looks|sounds) (boring|awful|bad|terrible|dull|meh)|"
            r"not for me|no to the|thumbs down|(was|looks|sounds) (terrible|awful|boring|bad)|"
            r"(drop|remove|ditch|scrap) the (first|second|third|last))\b"
        ),
    ),
    (
        "liked",
        re.compile(
            r"\b(i (really |truly |absolutely |just )?(loved|liked|enjoyed|adored|love|like) (it|that|this|the|them)|"
            r"loved (it|that|this)|"
            r"love (it|that|this)|(it|that|this)( one)? (was|is|looks|sounds) (great|amazing|good|"
            r"perfect|fantastic|brilliant|excellent|lovely)|great (pick|choice|one)|thumbs up|"
            r"i (really |truly |absolutely |just )?(loved|liked|enjoyed|adored)|my favou?rite|"
            r"(the )?(first|second|third|last) one "
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
