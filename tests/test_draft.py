"""Prompt-lookup drafts (generation.draft): what a sequence's own tokens say comes next."""

from recsys.generation.draft import Lookup


def test_the_tokens_after_the_latest_earlier_occurrence_are_the_draft():
    lookup = Lookup([5, 6, 7, 8, 1, 5, 6, 9, 2, 3, 5, 6])
    assert lookup.draft(2) == [9, 2]  # "5 6" last came before "9 2", not the first "7 8"
    assert lookup.draft(5) == [9, 2, 3, 5, 6]
    assert lookup.draft(0) == []


def test_a_longer_match_wins_over_a_later_shorter_one():
    lookup = Lookup([1, 2, 3, 40, 9, 2, 3, 50, 1, 2, 3])
    assert lookup.draft(1) == [40]  # "1 2 3" matches earlier; the later "2 3" alone would say 50


def test_one_token_or_the_suffix_itself_is_no_match():
    assert Lookup([1, 2, 3, 4]).draft(3) == []  # nothing repeats
    assert Lookup([7, 1, 7]).draft(2) == []  # a single shared token is too weak a match
    lookup = Lookup([4, 5])
    assert lookup.draft(2) == []  # "4 5" has no continuation yet
    lookup.append(6)
    lookup.append(4)
    lookup.append(5)
    assert lookup.draft(2) == [6, 4]  # tokens appended one by one are indexed as the prompt's are


def test_a_copied_head_extended_by_a_tail_is_the_whole_prompts_lookup_and_leaves_the_head_alone():
    head, tail = [5, 6, 7, 8, 1, 5, 6], [9, 2, 3, 5, 6]
    shared = Lookup(head)
    own = shared.copy()
    own.extend(tail)
    whole = Lookup(head + tail)
    assert own.tokens == whole.tokens and own.after == whole.after and own.draft(2) == whole.draft(2) == [9, 2]
    assert shared.tokens == head and shared.draft(2) == [7, 8]  # the head's index is not the copy's
