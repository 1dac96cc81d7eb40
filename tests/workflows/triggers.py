"""Which workflows GitHub starts for an event, by GitHub's documented rules.

Sources (docs.github.com): "Events that trigger workflows", "Workflow syntax" (`on.push`/
`on.pull_request` with `branches`, `branches-ignore`, `tags`, `tags-ignore`, `paths`,
`paths-ignore`; the filter pattern cheat sheet), "Skipping workflow runs" and "Triggering a
workflow from a workflow":

- A `push` or `pull_request` whose commit message carries `[skip ci]`, `[ci skip]`, `[no ci]`,
  `[skip actions]` or `[actions skip]` (or ends with a `skip-checks: true` trailer) starts no
  workflow triggered `on: push` / `on: pull_request`. For a pull request GitHub reads the head
  commit; for a push the docs say "the commit message in a push" and the changelog "any commit
  message in your push": this model takes the stricter reading (any pushed commit).
- Events made with the repository's GITHUB_TOKEN start no workflow, except
  `workflow_dispatch` and `repository_dispatch`.
- Branch filters match the pushed branch (push) or the PR's base branch (pull_request). With
  only `branches*` given, a tag push starts nothing, and vice versa. `paths` starts the
  workflow if at least one changed file matches (a later `!pattern` excludes again);
  `paths-ignore` only if some changed file is not ignored. Both filters must pass.
- `pull_request` without `types` means opened, synchronize, reopened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SKIP_MARKERS = ("[skip ci]", "[ci skip]", "[no ci]", "[skip actions]", "[actions skip]")
PR_DEFAULT_TYPES = ("opened", "synchronize", "reopened")


@dataclass(frozen=True)
class Event:
    name: str  # push | pull_request | repository_dispatch | workflow_dispatch | schedule
    ref: str = "refs/heads/main"  # push: the pushed ref
    messages: tuple[str, ...] = ()  # push: every pushed commit; pull_request: the head commit
    changed: frozenset[str] = field(default_factory=frozenset)
    by_github_token: bool = False
    action: str = ""  # pull_request activity type; repository_dispatch event_type
    base: str = "main"  # pull_request: the base branch


def glob_regex(pattern: str) -> re.Pattern[str]:
    """GitHub's filter patterns: `*` (not `/`), `**` (anything), `?` and `+` quantify the
    previous character, `[...]` a class; everything else literal."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch in "?+":
            out.append(ch)
        elif ch == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def matches(patterns: list[str], value: str) -> bool:
    """Patterns in order; a `!pattern` un-matches; the last applicable one wins."""
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if glob_regex(pattern[1:] if negated else pattern).match(value):
            matched = not negated
    return matched


def _ref_filter(spec: dict[str, Any], ref: str) -> bool:
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    tag = ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else None
    branch_keys = {"branches", "branches-ignore"} & set(spec)
    tag_keys = {"tags", "tags-ignore"} & set(spec)
    if len(branch_keys) > 1 or len(tag_keys) > 1:
        raise ValueError("branches and branches-ignore (or tags and tags-ignore) together")
    if branch is not None:
        if not branch_keys:
            return not tag_keys
        key = branch_keys.pop()
        return matches(spec[key], branch) == (key == "branches")
    if tag is not None:
        if not tag_keys:
            return not branch_keys
        key = tag_keys.pop()
        return matches(spec[key], tag) == (key == "tags")
    return False


def _paths_filter(spec: dict[str, Any], changed: frozenset[str]) -> bool:
    if "paths" in spec and "paths-ignore" in spec:
        raise ValueError("paths and paths-ignore together")
    if "paths" in spec:
        return any(matches(spec["paths"], path) for path in changed)
    if "paths-ignore" in spec:
        return any(not matches(spec["paths-ignore"], path) for path in changed)
    return True


def skipped_by_message(message: str) -> bool:
    if any(marker in message for marker in SKIP_MARKERS):
        return True
    return re.search(r"\n\n(?:.*\n)*skip-checks: ?true\s*\Z", message) is not None


def starts(on: Any, event: Event) -> bool:
    """Would a workflow with this `on:` start for `event`?"""
    if isinstance(on, str):
        on = {on: None}
    elif isinstance(on, list):
        on = dict.fromkeys(on)
    if event.name not in on:
        return False
    if event.by_github_token and event.name not in ("workflow_dispatch", "repository_dispatch"):
        return False
    spec = on[event.name] or {}
    if event.name in ("push", "pull_request") and any(map(skipped_by_message, event.messages)):
        return False
    if event.name == "push":
        return _ref_filter(spec, event.ref) and _paths_filter(spec, event.changed)
    if event.name == "pull_request":
        types = spec.get("types", PR_DEFAULT_TYPES)
        if event.action not in types:
            return False
        return _ref_filter(spec, f"refs/heads/{event.base}") and _paths_filter(spec, event.changed)
    if event.name == "repository_dispatch":
        types = spec.get("types")
        return types is None or event.action in types
    return True  # workflow_dispatch, schedule


def started(workflows: dict[str, dict[str, Any]], event: Event) -> list[str]:
    """Names of the workflow files GitHub starts for `event` (sorted)."""
    return sorted(name for name, wf in workflows.items() if starts(wf["on"], event))
