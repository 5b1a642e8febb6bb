import pytest

from hub.prompts.service import get_prompt_for_run
from hub.prompts.templating import (
    MissingVariables,
    TemplateError,
    derive_variables,
    render_template,
)


def test_variables_are_derived_in_order_without_duplicates():
    assert derive_variables("Hi {{name}}, {{ topic }} and {{name}} again") == ["name", "topic"]
    assert derive_variables("no placeholders") == []


@pytest.mark.parametrize(
    "template",
    [
        "{{ bad name }}",
        "{{1abc}}",
        "{{}}",
        "{{a-b}}",
        "   ",
        " ".join(f"{{{{v{i}}}}}" for i in range(21)),
    ],
)
def test_bad_templates_are_refused_without_quoting_them(template):
    with pytest.raises(TemplateError) as info:
        derive_variables(template)
    assert template.strip() == "" or template not in str(info.value)


def test_render_is_single_pass_and_reports_missing_names():
    out = render_template("A {{x}} B {{ y }}", {"x": "{{y}}", "y": "2", "extra": "ignored"})
    assert out == "A {{y}} B 2"
    with pytest.raises(MissingVariables) as info:
        render_template("{{a}} {{b}} {{a}}", {"b": "1"})
    assert info.value.names == ["a"]


async def test_get_prompt_for_run_unknown_ids(hub_env):
    from hub.platform.db import close_pool, start_pool

    await start_pool(1, 2)
    try:
        assert await get_prompt_for_run("not-a-uuid") is None
        assert await get_prompt_for_run("00000000-0000-0000-0000-000000000000") is None
    finally:
        await close_pool()
