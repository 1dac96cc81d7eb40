"""A local stand-in for CML (`cml`, npm @dvcorg/cml 0.20.x) for the subcommands the workflows
use: `cml pr create` and `cml comment update` (and `comment create`).

It enforces the real command-line contract, taken from CML's source (bin/cml/pr/create.js,
bin/cml/comment/create.js, src/cml.js, src/commenttarget.js): the same options (unknown ones
are an error, as with yargs' strict mode), the same git work (`pr create` commits and pushes
only when the branch does not exist yet; an existing branch returns its open PR), the same
comment targets (`pr`, `pr/N`, `commit`, `commit/SHA`, `issue/N`) and watermark matching for
`update`. Instead of calling GitHub's API it records pull requests and comments in the JSON
file named by $CML_STANDIN_STATE, which the tests read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

GLOBAL = {"log": "string", "driver": "string", "repo": "string", "token": "string"}
PR_CREATE = {
    "md": "boolean",
    "skip-ci": "boolean",
    "merge": "boolean",
    "auto-merge": "boolean",
    "rebase": "boolean",
    "squash": "boolean",
    "branch": "string",
    "target-branch": "string",
    "title": "string",
    "body": "string",
    "message": "string",
    "remote": "string",
    "user-email": "string",
    "user-name": "string",
}
COMMENT = {
    "target": "string",
    "pr": "boolean",
    "commit-sha": "string",
    "head-sha": "string",
    "watch": "boolean",
    "trigger-file": "string",
    "publish": "boolean",
    "publish-url": "string",
    "publish-native": "boolean",
    "native": "boolean",
    "update": "boolean",
    "rm-watermark": "boolean",
    "watermark-title": "string",
}
SUBCOMMANDS = {
    ("pr", "create"): PR_CREATE,
    ("comment", "create"): COMMENT,
    ("comment", "update"): COMMENT,
}


class CmlError(Exception):
    pass


def parse(argv: list[str], spec: dict[str, str]) -> tuple[dict[str, object], list[str]]:
    """yargs-like parsing: --k v, --k=v, --flag, --no-flag; strict about unknown options."""
    options: dict[str, object] = {}
    positional: list[str] = []
    allowed = {**GLOBAL, **spec}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positional += argv[i + 1 :]
            break
        if arg.startswith("--"):
            key, eq, value = arg[2:].partition("=")
            negated = key.startswith("no-") and key[3:] in allowed
            name = key[3:] if negated else key
            kind = allowed.get(name)
            if kind is None:
                raise CmlError(f"Unknown argument: {key}")
            if kind == "boolean":
                if eq:
                    raise CmlError(f"Option --{name} takes no value")
                options[name] = not negated
            else:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise CmlError(f"Not enough arguments following: {name}")
                    value = argv[i]
                options[name] = value
        elif arg.startswith("-") and arg != "-":
            raise CmlError(f"Unknown argument: {arg.lstrip('-')}")
        else:
            positional.append(arg)
        i += 1
    conflicts = [("merge", "rebase"), ("merge", "squash"), ("rebase", "squash")]
    for a, b in conflicts:
        if options.get(a) and options.get(b):
            raise CmlError(f"Arguments {a} and {b} are mutually exclusive")
    return options, positional


def git(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise CmlError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def load_state() -> tuple[Path, dict]:
    path = Path(os.environ["CML_STANDIN_STATE"])
    state = json.loads(path.read_text()) if path.exists() else {}
    state.setdefault("prs", [])
    state.setdefault("comments", [])
    state.setdefault("calls", [])
    return path, state


def repo_slug() -> str:
    return os.environ.get("GITHUB_REPOSITORY", "owner/repo")


def trigger_sha() -> str:
    return os.environ.get("GITHUB_SHA") or git("rev-parse", "HEAD")


def current_branch() -> str:
    head_ref = os.environ.get("GITHUB_HEAD_REF")
    if head_ref:
        return head_ref
    ref = os.environ.get("GITHUB_REF", "")
    return ref.removeprefix("refs/heads/") if ref else git("branch", "--show-current")


def pr_create(options: dict, globs: list[str], state: dict) -> str:
    remote = str(options.get("remote", "origin"))
    remote_url = git("config", "--get", f"remote.{remote}.url")
    target = current_branch()
    if options.get("target-branch"):
        target = str(options["target-branch"])
        if subprocess.run(["git", "ls-remote", "--exit-code", remote_url, target],
                          capture_output=True).returncode != 0:  # fmt: skip
            raise CmlError("The target branch does not exist.")
    sha = trigger_sha()
    source = str(options.get("branch") or f"{target}-cml-pr-{sha[:8]}")
    changed = [line[3:] for line in git("status", "--porcelain").splitlines()]
    if globs and not changed:
        return ""  # "No changed files matched by glob path. Nothing to do."
    exists = source in git("ls-remote", remote_url, source)
    if exists:
        for pr in state["prs"]:
            if pr["state"] == "open" and pr["source"] == source and pr["target"] == target:
                return render(pr["url"], options)
    else:
        git("fetch", remote, sha)
        if globs:
            git("checkout", "-B", target, sha)
        git("checkout", "-b", source)
        if globs:
            git("add", *globs)
            message = str(options.get("message") or f"CML PR for {sha[:8]}")
            merge = options.get("merge") or options.get("rebase") or options.get("squash")
            if options.get("skip-ci") or (not options.get("message") and not merge):
                message += " [skip ci]"
            git("commit", "-m", message)
        git("push", "--set-upstream", remote, source)
    number = len(state["prs"]) + 1
    pr = {
        "number": number,
        "url": f"https://github.com/{repo_slug()}/pull/{number}",
        "source": source,
        "target": target,
        "title": str(options.get("title") or f"CML PR for {target} {sha[:8]}"),
        "body": str(options.get("body") or f"Automated commits for {repo_slug()}/commit/{sha}"),
        "head_sha": git("ls-remote", remote_url, f"refs/heads/{source}").split()[0],
        "state": "open",
    }
    state["prs"].append(pr)
    return render(pr["url"], options)


def render(url: str, options: dict) -> str:
    return f"[CML's Pull Request]({url})" if options.get("md") else url


def resolve_target(options: dict, state: dict) -> tuple[str, str]:
    target = str(options.get("target") or "auto")
    if options.get("commit-sha") or options.get("head-sha"):
        target = f"commit/{options.get('commit-sha') or options.get('head-sha')}"
    if options.get("pr"):
        target = "pr"
    sha = trigger_sha()
    if target.lower() == "commit":
        return "commit", sha
    if target.lower() in ("pr", "auto"):
        event_pr = os.environ.get("CML_STANDIN_EVENT_PR")  # drv.pr on pull_request events
        if event_pr:
            return "pr", event_pr
        for pr in state["prs"]:
            if pr["head_sha"] == sha:
                return "pr", str(pr["number"])
        if target == "auto":
            return "commit", sha
        raise CmlError(f'PR for commit sha "{sha}" not found')
    kind, sep, ident = target.partition("/")
    if not sep:
        raise CmlError(f'comment target "{target}" could not be parsed')
    if kind.lower() not in ("commit", "pr", "issue"):
        raise CmlError(f'unsupported comment target "{target}"')
    if kind.lower() == "pr" and not any(str(p["number"]) == ident for p in state["prs"]):
        raise CmlError(f"Not Found: pull request {ident}")
    return kind.lower(), ident


def comment(options: dict, files: list[str], state: dict, update: bool) -> str:
    if len(files) != 1:
        raise CmlError("Not enough non-option arguments: got 0, need at least 1")
    markdown_file = Path(files[0])
    if not markdown_file.is_file():
        raise CmlError(f"ENOENT: no such file or directory, open '{markdown_file}'")
    if options.get("rm-watermark") and update:
        raise CmlError("watermarks are mandatory for updatable comments")
    body = markdown_file.read_text()
    published, missing = [], []
    if options.get("publish", True):
        for url in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)", body):
            if re.match(r"^[a-z]+:", url) or url.startswith("#"):
                continue
            local = (markdown_file.parent / url).resolve()
            (published if local.is_file() else missing).append(url)
    kind, ident = resolve_target(options, state)
    label = str(options.get("watermark-title") or "")
    record = {"target": f"{kind}/{ident}", "watermark": label, "body": body,
              "published": published, "missing": missing, "updates": 0}  # fmt: skip
    if update:
        for existing in reversed(state["comments"]):
            if existing["target"] == record["target"] and existing["watermark"] == label:
                record["updates"] = existing["updates"] + 1
                existing.update(record)
                return f"https://github.com/{repo_slug()}/{kind}/{ident}#comment"
    state["comments"].append(record)
    return f"https://github.com/{repo_slug()}/{kind}/{ident}#comment"


def main(argv: list[str]) -> int:
    if len(argv) < 2 or (argv[0], argv[1]) not in SUBCOMMANDS:
        shown = " ".join(argv[:2])
        print(f"cml: unknown or unsupported command: {shown!r}", file=sys.stderr)
        return 1
    path, state = load_state()
    state["calls"].append(argv)
    try:
        if not any(os.environ.get(k) for k in ("REPO_TOKEN", "repo_token", "GITHUB_TOKEN")):
            raise CmlError("repo_token is not set")
        options, positional = parse(argv[2:], SUBCOMMANDS[(argv[0], argv[1])])
        if argv[0] == "pr":
            out = pr_create(options, positional, state)
        else:
            out = comment(options, positional, state, update=argv[1] == "update")
    except CmlError as err:
        path.write_text(json.dumps(state, indent=1))
        print(f"cml: {err}", file=sys.stderr)
        return 1
    path.write_text(json.dumps(state, indent=1))
    if out:
        print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
