"""The worked example in the README gives the figures it claims."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_example_of_the_engine_is_right():
    text = README.read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "from cwork.oee" in b)
    namespace: dict = {}
    exec(block, namespace)  # noqa: S102 - our own README
    claims = [
        (expression.strip(), comment)
        for expression, comment in re.findall(r"^(kpis\.[\w., ]+?)\s+#\s*([\d., ]+)", block, re.M)
    ]
    assert len(claims) == 2
    for expression, comment in claims:
        values = eval(expression, namespace)  # noqa: S307 - our own README
        claimed = [float(v) for v in re.findall(r"[\d.]+", comment)]
        assert list(values) == pytest.approx(claimed, abs=0.001), expression
