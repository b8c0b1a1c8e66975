"""The `intent` ticket-routing classifiers: TF-IDF + logistic regression, converted with skl2onnx.

The ONNX graph takes one string tensor `text` of shape [-1] (one ticket per row: what skl2onnx
produces for `StringTensorType([None])`, so a request carries BYTES with shape [n]) and returns
`label` (string, shape [-1]) and `probabilities` (FP32, shape [-1, K], columns in the sorted
order of the queue names).

The vectorizer is restricted to what the converter reproduces exactly (checked by the tests):
- `token_pattern` is spelled out as `[a-z0-9]+` (applied after lower-casing) because the ONNX
  Tokenizer's regex engine has no `\\b`; skl2onnx would silently replace sklearn's default
  `(?u)\\b\\w\\w+\\b` with a different pattern.
- no `sublinear_tf`: the converted graph does not reproduce it for repeated tokens.
- the StringNormalizer (lower-casing) gets the locale `C.UTF-8`: onnxruntime's default
  `en_US.UTF-8` is missing from slim Linux images and the session then fails to load. Lower-casing
  of ASCII is identical to Python's `str.lower`; exotic case mappings (e.g. dotted capital I) can
  differ slightly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from workers.modelbuild.tickets import QUEUES, V1_QUEUES, generate_tickets

TOKEN_PATTERN = r"[a-z0-9]+"  # noqa: S105 -- a regex for words, not a password
LOCALE = "C.UTF-8"
_OPSET = {"": 17, "ai.onnx.ml": 3}


@dataclass(frozen=True, slots=True)
class IntentRecipe:
    """What distinguishes one `intent` version from another."""

    version: str
    queues: tuple[str, ...]
    train_size: int
    seed_offset: int
    regularization: float


RECIPES: tuple[IntentRecipe, ...] = (
    IntentRecipe(version="1", queues=V1_QUEUES, train_size=600, seed_offset=101, regularization=1.0),
    IntentRecipe(version="2", queues=QUEUES, train_size=4000, seed_offset=202, regularization=10.0),
)


def train(recipe: IntentRecipe, seed: int) -> Pipeline:
    """Fit the TF-IDF + logistic regression pipeline of `recipe` on generated tickets."""
    tickets = generate_tickets(recipe.train_size, seed + recipe.seed_offset, recipe.queues)
    texts = [text for text, _ in tickets]
    labels = [queue for _, queue in tickets]
    pipeline = Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(token_pattern=TOKEN_PATTERN, ngram_range=(1, 2), min_df=2),
            ),
            ("clf", LogisticRegression(C=recipe.regularization, max_iter=2000)),
        ]
    )
    pipeline.fit(texts, labels)
    return pipeline


def to_onnx(pipeline: Pipeline, name: str = "intent") -> Any:
    """Convert a fitted pipeline to an ONNX ModelProto with inputs/outputs named per the module doc."""
    vectorizer = pipeline.named_steps["tfidf"]
    classifier = pipeline.named_steps["clf"]
    classes = len(classifier.classes_)
    model = convert_sklearn(
        pipeline,
        name=name,
        initial_types=[("text", StringTensorType([None]))],
        final_types=[
            ("label", StringTensorType([None])),
            ("probabilities", FloatTensorType([None, classes])),
        ],
        options={id(classifier): {"zipmap": False}, id(vectorizer): {"locale": LOCALE}},
        target_opset=_OPSET,
    )
    # skl2onnx collects opset imports in a set: sort them so equal models serialise to equal bytes.
    imports = sorted((opset.domain, opset.version) for opset in model.opset_import)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in imports)
    return model


def texts_array(texts: list[str]) -> np.ndarray[Any, np.dtype[np.object_]]:
    """Shape a list of tickets as the model's `text` input (object array of str, shape [n])."""
    array = np.empty(len(texts), dtype=object)
    array[:] = texts
    return array
