"""The cleaner on 99 hand-labelled Enron messages (benchmarks/cleaning_zones.py, issue 13 item 1).

Greeting and closing are the person's words and stay in the text; the signature block under the
name is cut and kept apart; quoted messages never leak into the text.
"""

from __future__ import annotations

import sys

from tests.conftest import REPO


def test_each_zone_is_kept_where_it_belongs_on_hand_labelled_enron_mail(enron_dir):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import cleaning_zones

    figures = cleaning_zones.score(cleaning_zones.read_labels(), enron_dir)
    assert figures["messages"] == 99
    zones = figures["zones"]
    assert zones["closing"]["support"] >= 90 and zones["signature"]["support"] >= 15
    assert figures["macro_f1"] >= 0.95, zones
    assert zones["closing"]["f1"] >= 0.95 and zones["signature"]["f1"] >= 0.9, zones
    assert figures["leak_rate"] < 0.01
