"""Bounded fuzz run over every loader, seeded by the corpus: only singan's own errors may come
out (tests/corpus/fuzz.py; SINGAN_FUZZ_EXAMPLES sets the mutants per target)."""

from __future__ import annotations

import os

import pytest
from conftest import corpus_module

EXAMPLES = int(os.environ.get("SINGAN_FUZZ_EXAMPLES", "150"))
FUZZ = corpus_module("fuzz")


@pytest.mark.parametrize("target", list(FUZZ.TARGETS))
def test_mutated_corpus_files_give_only_our_errors(corpus_root, target):
    result = FUZZ.fuzz(target, corpus_root, EXAMPLES)
    assert result["cases"] >= EXAMPLES


@pytest.mark.parametrize("target", list(FUZZ.STRUCTURED))
def test_hostile_numbers_and_run_folder_entries_give_only_our_errors(corpus_root, target):
    """Non-finite, huge and inconsistent numbers in config.json; links, FIFOs, folders and
    missing files in a run folder (fewer examples: each one resumes a run)."""
    examples = max(10, EXAMPLES // 8)
    result = FUZZ.fuzz(target, corpus_root, examples)
    assert result["cases"] >= examples


def test_mutations_change_the_seed():
    data = bytes(range(64))
    assert FUZZ.mutate(data, [("cut", 10, b"x")]) == data[:10]
    assert FUZZ.mutate(data, [("insert", 3, b"ab")]) == data[:3] + b"ab" + data[3:]
    assert FUZZ.mutate(data, [("flip", 0, b"\x01")])[0] == 1
    assert len(FUZZ.mutate(data, [("repeat", 0, b"\x02")])) == 72
