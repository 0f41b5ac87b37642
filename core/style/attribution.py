"""Authorship attribution: whose text does a draft read like? A measure that needs no judge.

A linear classifier (scikit-learn logistic regression) over character 2-4-grams (tf-idf) and
function-word frequencies, trained on every profile's training texts. A method that writes
like the person has its drafts attributed to that person more often. sklearn is imported
only when a classifier is trained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import UsageError

if TYPE_CHECKING:
    from core.store import Store

_FUNCTION_WORDS = """
a about above after again all also although am an and any are as at be because been before being
below between both but by can could did do does doing down during each either few for from further
had has have having he her here hers him his how i if in into is it its just me might more most must
my neither no nor not now of off on once only or other our out over own same shall she should since
so some such than that the their them then there these they this those though through to too under
until up upon us very was we were what when where whether which while who whom whose why will with
within without would yet you your
"""
FUNCTION_WORDS: tuple[str, ...] = tuple(_FUNCTION_WORDS.split())
"""English function words: how often a person uses them is a classic authorship marker."""
MIN_TEXTS_PER_PROFILE = 2


@dataclass
class Attributor:
    """A trained classifier over the profiles it was given (`labels`)."""

    labels: list[str]
    pipeline: Any
    trained_on: dict[str, int]
    """Training texts per profile."""

    @classmethod
    def train(cls, texts: Mapping[str, Sequence[str]], seed: int = 0) -> Attributor:
        """Fit on {profile: training texts}; needs two profiles with at least two texts each."""
        usable = {name: [t for t in items if t.strip()] for name, items in texts.items()}
        usable = {name: items for name, items in usable.items() if len(items) >= MIN_TEXTS_PER_PROFILE}
        if len(usable) < 2:
            raise UsageError(
                "authorship attribution needs at least two profiles with 2 or more training texts each; import another person's "
                "texts (`pa import PATH --profile NAME`)"
            )
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union
        from sklearn.preprocessing import Normalizer

        features = make_union(
            TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(2, 4),
                sublinear_tf=True,
                min_df=1,
                lowercase=False,
                max_features=50_000,
            ),
            make_pipeline(
                CountVectorizer(vocabulary=FUNCTION_WORDS, lowercase=True, token_pattern=r"(?u)\b\w+\b"),
                Normalizer(norm="l1"),
            ),
        )
        pipeline = make_pipeline(
            features, LogisticRegression(max_iter=2000, C=10.0, class_weight="balanced", random_state=seed)
        )
        names = sorted(usable)
        documents = [text for name in names for text in usable[name]]
        labels = [name for name in names for _ in usable[name]]
        pipeline.fit(documents, labels)
        return cls(names, pipeline, {name: len(usable[name]) for name in names})

    def attribute(self, texts: Sequence[str]) -> list[str]:
        """The profile each text is attributed to."""
        if not texts:
            return []
        return [str(label) for label in self.pipeline.predict(list(texts))]


def profile_training_texts(store: Store, profile_names: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Every profile's training-split texts (all profiles in the store when none are named)."""
    names = profile_names or [p.name for p in store.list_profiles()]
    out = {}
    for name in names:
        profile = store.get_profile(name)
        out[name] = [d.text for d in store.documents(profile.id, split="train")]
    return out
