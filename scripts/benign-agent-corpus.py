#!/usr/bin/env python3
"""Build the benign agent-context corpus (crates/bulwark-core/tests/data/benign_agent.jsonl).

Text an agent reads in the course of ordinary work, written by others: alert annotations, runbooks,
cloud CLI output and documentation, e-mails, code Q&A, commit messages. Every row is benign (label 0)
and names where it came from. The injection detector must not flag these (issue 28: at most 2%).

Usage (each argument is a git directory of the named public repository, at the commit given):
    python3 scripts/benign-agent-corpus.py \
        --alerts   PATH  # samber/awesome-prometheus-alerts a853318 (rules: CC BY 4.0)
        --runbooks PATH  # prometheus-operator/runbooks a685d14 (Apache-2.0)
        --awscli   PATH  # aws/aws-cli 07c4fe366 (Apache-2.0)
        --bipia    PATH  # microsoft/BIPIA 1a2a91d (MIT; e-mails from its train split only)
        > crates/bulwark-core/tests/data/benign_agent.jsonl

Deterministic: the same commits give the same bytes. Needs PyYAML.
"""

import argparse
import json
import re
import subprocess
import sys

import yaml

COMMITS = {
    "alerts": "a853318",
    "runbooks": "a685d14",
    "awscli": "07c4fe366",
    "bipia": "1a2a91d",
}
REPOS = {
    "alerts": "samber/awesome-prometheus-alerts",
    "runbooks": "prometheus-operator/runbooks",
    "awscli": "aws/aws-cli",
    "bipia": "microsoft/BIPIA",
}


def git(repo, *args):
    return subprocess.check_output(["git", "--git-dir", repo, *args]).decode("utf-8", "replace")


def show(repo, key, path):
    return git(repo, "show", f"{COMMITS[key]}:{path}")


def files(repo, key, prefix, suffix):
    names = git(repo, "ls-tree", "-r", "--name-only", COMMITS[key], prefix).splitlines()
    return sorted(n for n in names if n.endswith(suffix))


def row(text, subset, source, key, path):
    return {
        "text": text.strip(),
        "label": 0,
        "subset": subset,
        "source": source,
        "origin": f"{REPOS[key]}@{COMMITS[key]}:{path}",
    }


def camel(name):
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", name) if w)


def alerts(repo):
    """Each rule as the firing alert an AlertManager webhook would carry, labels filled in."""
    data = yaml.safe_load(show(repo, "alerts", "_data/rules.yml"))
    out = []
    n = 0
    for group in data["groups"]:
        for service in group["services"]:
            for exporter in service.get("exporters") or []:
                for rule in exporter.get("rules") or []:
                    n += 1
                    name = camel(rule["name"])
                    instance = f"10.0.{n % 250}.{(n * 7) % 250}:9{100 + n % 800}"
                    lines = [
                        f"[FIRING:1] {name} ({rule.get('severity', 'warning')})",
                        f"alertname: {name}",
                        f"service: {service['name']}",
                        f"instance: {instance}",
                        f"summary: {rule['name']} (instance {instance})",
                        f"description: {rule['description'].strip()}",
                        f"  VALUE = {round(n * 1.37 % 100, 2)}",
                        f"expr: {rule['query']}",
                    ]
                    if rule.get("comments"):
                        lines.append(f"runbook notes: {rule['comments'].strip()}")
                    out.append(row("\n".join(lines), "alert_annotations", "alert", "alerts", "_data/rules.yml"))
    return out


def runbooks(repo):
    """Each section (## heading) of each runbook."""
    out = []
    for path in files(repo, "runbooks", "content/runbooks", ".md"):
        text = show(repo, "runbooks", path)
        text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
        for section in re.split(r"\n(?=## )", text):
            if len(section.strip()) >= 80:
                out.append(row(section, "runbooks", "document", "runbooks", path))
    return out


def awscli(repo):
    """Command output blocks (what an agent reads back) and example write-ups, every 12th file."""
    out_blocks, docs = [], []
    paths = files(repo, "awscli", "awscli/examples", ".rst")
    for path in paths[::12]:
        text = show(repo, "awscli", path)
        docs.append(row(text[:4000], "cloud_cli_docs", "document", "awscli", path))
        for block in re.findall(r"Output::\n\n((?:(?:    .*)?\n)+)", text):
            block = "\n".join(line[4:] for line in block.splitlines())
            if len(block.strip()) >= 40:
                out_blocks.append(row(block[:4000], "cloud_cli_output", "tool_output", "awscli", path))
                break
    return out_blocks + docs


def commits(repo):
    """Commit messages with a body (change descriptions, review follow-ups)."""
    log = git(repo, "log", COMMITS["awscli"], "--no-merges", "--format=%H%x00%B%x01")
    out = []
    for entry in log.split("\x01"):
        if "\x00" not in entry:
            continue
        sha, body = entry.strip().split("\x00", 1)
        body = body.strip()
        if len(body) >= 200 and "\n\n" in body:
            out.append(row(body[:4000], "commit_messages", "code", "awscli", f"commit {sha[:12]}"))
    return out[:250]


def emails(repo):
    out = []
    for line in show(repo, "bipia", "benchmark/email/train.jsonl").splitlines():
        if line.strip():
            out.append(
                row(json.loads(line)["context"], "emails", "email", "bipia", "benchmark/email/train.jsonl")
            )
    return out


def main():
    p = argparse.ArgumentParser()
    for k in COMMITS:
        p.add_argument(f"--{k}", required=True)
    a = p.parse_args()
    rows = alerts(a.alerts) + runbooks(a.runbooks) + awscli(a.awscli) + commits(a.awscli) + emails(a.bipia)
    seen = set()
    for r in rows:
        if r["text"] and r["text"] not in seen:
            seen.add(r["text"])
            sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
