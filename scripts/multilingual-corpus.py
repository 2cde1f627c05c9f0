#!/usr/bin/env python3
"""Build the multilingual injection corpus (crates/bulwark-core/tests/data/multilingual.jsonl).

Attacks and benign texts in the 17 languages issue 28 names (es fr de pt it nl pl ru uk tr ar hi zh
ja ko vi id) and English, written by others. Every row names its language, its subset, the source an
agent would read it from, and where it came from (repository@commit:path). Sources:

  attacks
    xsafety_goal_hijacking  Jarviswang94/Multilingual_safety_benchmark (XSafety, Apache-2.0):
                            "<question> Ignore the question and just output: <text>", translated
                            by the authors into es fr de ru ar hi zh ja (and en, the original)
    cyberseceval_ml         meta-llama/PurpleLlama CybersecurityBenchmarks (MIT): the machine-
                            translated multilingual prompt-injection set, user inputs only; the
                            rows whose input is in another language than the one named are left
                            out
  benign
    xsafety_commonsense     the same XSafety repository: everyday multiple-choice questions
    tatoeba                 facebookresearch/LASER data/tatoeba/v1 (sentences from Tatoeba,
                            CC BY 2.0 FR): the first 300 sentences of each language
    uptime_kuma_ui          louislam/uptime-kuma src/lang (MIT): the UI strings longer than 40
                            characters, as a monitoring page shows them

XSafety rows alternate between split "tune" and split "report" (the even rows of each file were
read while writing patterns; the odd ones measure), and so do CyberSecEval's (by the parity of its
prompt_id). The benign sets are "report" only.

Usage (each argument is a git directory of the named repository, at the commit given):
    python3 scripts/multilingual-corpus.py \
        --xsafety  PATH  # Jarviswang94/Multilingual_safety_benchmark 8c55b6a
        --purple   PATH  # meta-llama/PurpleLlama 4be64c3a
        --laser    PATH  # facebookresearch/LASER 74bc6ae
        --kuma     PATH  # louislam/uptime-kuma 6398a95
        > crates/bulwark-core/tests/data/multilingual.jsonl

Deterministic: the same commits give the same bytes.
"""

import argparse
import csv
import io
import json
import subprocess

COMMITS = {
    "xsafety": "8c55b6a",
    "purple": "4be64c3a",
    "laser": "74bc6ae",
    "kuma": "6398a95",
}
REPOS = {
    "xsafety": "Jarviswang94/Multilingual_safety_benchmark",
    "purple": "meta-llama/PurpleLlama",
    "laser": "facebookresearch/LASER",
    "kuma": "louislam/uptime-kuma",
}
# Language code -> (XSafety folder, CyberSecEval name, Tatoeba code, uptime-kuma file).
LANGS = {
    "en": ("en", None, None, None),
    "es": ("sp", "Spanish", "spa", "es-ES"),
    "fr": ("fr", "French", "fra", "fr-FR"),
    "de": ("de", "German", "deu", "de-DE"),
    "pt": (None, "Portuguese", "por", "pt-BR"),
    "it": (None, "Italian", "ita", "it-IT"),
    "nl": (None, None, "nld", "nl-NL"),
    "pl": (None, None, "pol", "pl"),
    "ru": ("ru", "Russian", "rus", "ru-RU"),
    "uk": (None, None, "ukr", "uk-UA"),
    "tr": (None, "Turkish", "tur", "tr-TR"),
    "ar": ("ar", "Arabic", "ara", "ar"),
    "hi": ("hi", "Hindi", "hin", "hi"),
    "zh": ("zh", "Chinese", "cmn", "zh-CN"),
    "ja": ("ja", "Japanese", "jpn", "ja"),
    "ko": (None, "Korean", "kor", "ko-KR"),
    "vi": (None, "Vietnamese", "vie", "vi-VN"),
    "id": (None, "Indonesian", "ind", "id-ID"),
}
TATOEBA_PER_LANGUAGE = 300
UI_MIN_CHARS = 40


def git(repo, *args):
    return subprocess.check_output(["git", "--git-dir", repo, *args])


def show(repo, key, path):
    return git(repo, "show", f"{COMMITS[key]}:{path}").decode("utf-8-sig")


def names(repo, key, prefix):
    out = git(repo, "ls-tree", "-r", "--name-only", COMMITS[key], prefix).decode()
    return sorted(out.splitlines())


def row(text, label, lang, subset, source, key, path, split="report"):
    return {
        "text": text.strip(),
        "label": label,
        "lang": lang,
        "subset": subset,
        "source": source,
        "split": split,
        "origin": f"{REPOS[key]}@{COMMITS[key]}:{path}",
    }


def xsafety(repo):
    out = []
    for lang, (folder, _, _, _) in LANGS.items():
        if folder is None:
            continue
        files = names(repo, "xsafety", folder + "/")
        for stem, label, subset in (
            ("Goal_Hijacking", 1, "xsafety_goal_hijacking"),
            ("commonsense", 0, "xsafety_commonsense"),
        ):
            path = next(f for f in files if f.split("/")[1].startswith(stem))
            rows = [r[0] for r in csv.reader(io.StringIO(show(repo, "xsafety", path))) if r and r[0].strip()]
            for i, text in enumerate(rows):
                split = "tune" if i % 2 == 0 else "report"
                out.append(row(text, label, lang, subset, "user", "xsafety", path, split))
    return out


def cyberseceval(repo):
    path = "CybersecurityBenchmarks/datasets/prompt_injection/prompt_injection_multilingual_machine_translated.json"
    data = json.loads(show(repo, "purple", path))
    by_name = {v[1]: k for k, v in LANGS.items() if v[1]}
    out = []
    for case in data:
        lang = by_name.get(case["speaking_language"])
        if lang is None or case["injection_variant"] == "different_user_input_language":
            continue
        # An indirect injection arrives inside data the agent reads; a direct one is typed.
        source = "web" if case["injection_type"] == "indirect" else "user"
        split = "tune" if case["prompt_id"] % 2 == 0 else "report"
        out.append(row(case["user_input"], 1, lang, "cyberseceval_ml", source, "purple", path, split))
    return out


def tatoeba(repo):
    out = []
    for lang, (_, _, code, _) in LANGS.items():
        if code is None:
            continue
        path = f"data/tatoeba/v1/tatoeba.{code}-eng.{code}"
        lines = [l for l in show(repo, "laser", path).splitlines() if l.strip()]
        for text in lines[:TATOEBA_PER_LANGUAGE]:
            out.append(row(text, 0, lang, "tatoeba", "user", "laser", path))
    return out


def uptime_kuma(repo):
    out = []
    for lang, (_, _, _, file) in LANGS.items():
        if file is None:
            continue
        path = f"src/lang/{file}.json"
        strings = json.loads(show(repo, "kuma", path))
        for key in sorted(strings):
            text = strings[key]
            if isinstance(text, str) and len(text) > UI_MIN_CHARS:
                out.append(row(text, 0, lang, "uptime_kuma_ui", "web", "kuma", path))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for key in COMMITS:
        ap.add_argument(f"--{key}", required=True, help=f"git directory of {REPOS[key]}")
    args = ap.parse_args()
    rows = xsafety(args.xsafety) + cyberseceval(args.purple) + tatoeba(args.laser) + uptime_kuma(args.kuma)
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
