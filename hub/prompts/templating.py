"""`{{variable}}` templates: deriving variables, validating them, rendering in one pass.

Error messages here never quote the template: they may reach logs, and a private prompt's
template must never leave the server.
"""

from __future__ import annotations

import re

VARIABLE_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,39}"
MAX_VARIABLES = 20
MAX_TEMPLATE_CHARS = 20_000

_PLACEHOLDER = re.compile(r"\{\{\s*(" + VARIABLE_NAME + r")\s*\}\}")
_ANY_BRACES = re.compile(r"\{\{(.{0,60}?)\}\}", re.DOTALL)


class TemplateError(ValueError):
    """The template is malformed; the message is safe to show to the template's author."""


class MissingVariables(KeyError):
    """Inputs lack some of the template's variables; `names` lists them (names are public)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def derive_variables(template: str) -> list[str]:
    """The distinct `{{name}}` placeholders of `template`, in order of first appearance.

    Raises TemplateError for a `{{...}}` whose inside is not a valid name, or too many variables.
    """
    if not template.strip():
        raise TemplateError("template cannot be blank.")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"template is longer than {MAX_TEMPLATE_CHARS} characters.")
    for match in _ANY_BRACES.finditer(template):
        if not _PLACEHOLDER.fullmatch(match.group(0)):
            raise TemplateError(
                "template has a {{...}} placeholder that is not a valid variable name; names "
                "start with a letter or underscore and hold up to 40 letters, digits or underscores."
            )
    names: list[str] = []
    for match in _PLACEHOLDER.finditer(template):
        if match.group(1) not in names:
            names.append(match.group(1))
    if len(names) > MAX_VARIABLES:
        raise TemplateError(f"template uses {len(names)} variables; at most {MAX_VARIABLES}.")
    return names


def render_template(template: str, inputs: dict[str, str]) -> str:
    """Substitute every `{{name}}` with `inputs[name]`, in one pass.

    Input values are inserted literally: a value that itself contains `{{x}}` is not expanded.
    Raises MissingVariables (a KeyError) listing the variables absent from `inputs`; extra
    inputs are ignored.
    """
    missing = [name for name in dict.fromkeys(_PLACEHOLDER.findall(template)) if name not in inputs]
    if missing:
        raise MissingVariables(missing)
    return _PLACEHOLDER.sub(lambda m: str(inputs[m.group(1)]), template)
