"""Log and repository text reaches the model as quoted data, never as instructions.

Every such text is wrapped in ``<untrusted-data source=... >`` … ``</untrusted-data>``, with any
closing tag inside it defused, and each role's prompt says that nothing inside those tags is an
instruction. The text is also scanned for instruction-like phrases aimed at an agent (edit CI,
print the environment, widen permissions, ignore the rules): each hit is flagged in the report.
The flag is information for the reviewer; what stops a forbidden change is the policy on the diff,
which does not ask the model.
"""

from __future__ import annotations

import re

OPEN, CLOSE = "<untrusted-data", "</untrusted-data>"

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(rx, re.IGNORECASE)) for name, rx in (
    ("override the instructions", r"\b(ignore|disregard|forget|override)\b[^\n]{0,40}\b(instructions?|rules|prompt|"
                                  r"policy|guidelines)\b"),
    ("address the agent", r"\b(note|message|instructions?) (to|for) (the |any )?(ai|llm|assistant|agent|bot|model)\b"
                          r"|\b(dear|hey|attention) (ai|llm|assistant|agent|bot|model)\b"),
    ("print secrets or the environment", r"\b(print|dump|echo|log|output|reveal|send|exfiltrate|post)\b[^\n]{0,40}"
                                         r"\b(env(ironment)?( variables| vars)?|printenv|os\.environ|secrets?|"
                                         r"tokens?|api[_ -]?keys?|credentials)\b"),
    ("edit CI or ownership", r"\b(edit|modify|change|update|delete|add|write|disable)\b[^\n]{0,50}(\.github/workflows|"
                             r"\.gitlab-ci|jenkinsfile|\bci\b ?(config|workflow|pipeline)|codeowners|\.ci/)"),
    ("widen permissions", r"\b(grant|widen|escalate|add|give|set)\b[^\n]{0,40}\b(permissions?|privileges?|"
                          r"cluster-admin|rbac|sudo|chmod 777|root access|admin rights)\b"),
))


def quote(source: str, text: str) -> str:
    """``text`` as labelled, delimited data; a closing tag inside it cannot end the quote."""
    safe = re.sub(r"</?\s*untrusted-data", lambda m: m.group(0).replace("<", "&lt;"), text, flags=re.IGNORECASE)
    label = re.sub(r"[^\w./:@-]", "_", source)[:120]
    return f'{OPEN} source="{label}">\n{safe}\n{CLOSE}'


def injections(source: str, text: str, limit: int = 5) -> list[str]:
    """Instruction-like lines in ``text``, as 'source: what: the line' (capped)."""
    found: list[str] = []
    for line in text.splitlines():
        names = [name for name, pattern in _PATTERNS if pattern.search(line)]
        if names:
            found.append(f"{source}: {', '.join(names)}: {line.strip()[:160]}")
        if len(found) >= limit:
            break
    return found
