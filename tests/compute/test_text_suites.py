"""The text suites on a real (random-init) open_clip model and real images: zeroshot and text_retrieval against
LAION's CLIP_benchmark's own evaluation functions (identical predictions and metrics), balanced accuracy against
scikit-learn, bf16 text embeddings against fp32, fused image + title documents at w = 1 and w = 0, and the
smoke text grid end to end with its skipped cells."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from harness.compute.datasets import resolve_dataset
from harness.compute.datasets.base import CLASS_FIELD
from harness.compute.extract.cache import EmbeddingCache
from harness.compute.extract.embeddings import split_embeddings
from harness.compute.extract.vectors import l2_normalise
from harness.compute.models import load_model
from harness.compute.retrieval.metrics import per_query_metrics, relevant_counts
from harness.compute.suites import resolve_params
from harness.compute.suites.zeroshot import ranked_classes
from harness.compute.text.encode import prompt_embeddings, text_embeddings
from harness.compute.text.templates import resolve_templates
from harness.core.errors import HarnessError
from harness.execute.runner import Outcome, run_plan
from harness.plan.grid import load_grid
from harness.plan.plan import make_plan
from harness.spec.cells import Cell
from harness.spec.settings import Extraction, Settings

torch = pytest.importorskip("torch")
clip_benchmark = pytest.importorskip("clip_benchmark")
from clip_benchmark.metrics import zeroshot_classification, zeroshot_retrieval  # noqa: E402

MODEL = "open_clip:ViT-S-32-alt[init=random]"
SYNTHETIC = "synthetic[classes=6,per_class=4,size=32]"
SMOKE_TEXT = Path(__file__).parents[2] / "suites" / "smoke-text.toml"
SETTINGS = Extraction(workers=0)


@pytest.fixture(scope="module")
def model() -> Any:
    torch.set_num_threads(1)
    return load_model(MODEL)


@pytest.fixture(scope="module")
def titled(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A ``csv:`` catalogue with a ``text`` column: synthetic product images, each with its own title."""
    root = tmp_path_factory.mktemp("titled")
    source = resolve_dataset(SYNTHETIC)
    rows = ["path,label,split,text"]
    for i, item in enumerate(source.manifest().items):
        source.load_image(item).save(root / f"{i}.png")
        name = source.class_text(item.class_name)
        rows.append(f"{i}.png,{name},{'train' if i % 4 == 0 else 'test'},{name} item number {i}")
    (root / "items.csv").write_text("\n".join(rows) + "\n")
    return f"csv:{root / 'items.csv'}"


def run_cells(cells: list[Cell], tmp_path: Path, extraction: Extraction = SETTINGS) -> list[Outcome]:
    settings = Settings(tmp_path / "work", tmp_path / "r.duckdb", extraction=extraction)
    return run_plan(make_plan(cells, "cpu", settings.workdir), settings)


def cell(dataset: str, suite: str, **given: Any) -> Cell:
    return Cell(MODEL, dataset, "pretrained", suite, resolve_params(suite, "pretrained", given))


class Images(torch.utils.data.Dataset):  # type: ignore[misc]
    """The evaluated split as CLIP_benchmark reads a dataset: (pixels, target), and ``classes``."""

    def __init__(self, model: Any, dataset: Any, target: list[Any], classes: list[str]) -> None:
        manifest = dataset.manifest()
        self.items = [manifest.items[i] for i in manifest.indices("test")]
        self.model, self.dataset, self.target, self.classes = model, dataset, target, classes

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        return self.model.transform(self.dataset.load_image(self.items[i])), self.target[i]


@pytest.mark.slow
def test_zeroshot_equals_clip_benchmark_predictions_and_metrics(model: Any, tmp_path: Path) -> None:
    [outcome] = run_cells([cell(SYNTHETIC, "zeroshot", templates="cars")], tmp_path)
    assert outcome.error is None
    dataset = resolve_dataset(SYNTHETIC)
    manifest = dataset.manifest()
    labels = np.asarray(manifest.labels(manifest.indices("test")))
    present = np.unique(labels)
    names = [dataset.class_text(f"class_{label:03d}") for label in present]
    target = torch.as_tensor(np.searchsorted(present, labels))
    loader = torch.utils.data.DataLoader(Images(model, dataset, list(target), names), batch_size=32)
    clip, tokenizer, templates = model.text.module, model.text.tokenize, list(resolve_templates("cars"))
    assert len(templates) == 8  # an ensemble, averaged as CLIP_benchmark does

    # CLIP_benchmark's evaluate() = these two calls, then its accuracy() (which fails under NumPy 2: float() of a
    # 1-element array) and scikit-learn's balanced accuracy: the last two are restated below on its logits
    classifier = zeroshot_classification.zero_shot_classifier(clip, tokenizer, names, templates, "cpu", amp=False)
    logits, _ = zeroshot_classification.run_classification(clip, classifier, loader, "cpu", amp=False)
    top = logits.topk(5, dim=1).indices
    theirs = {"acc1": float((top[:, 0] == target).float().sum()) / len(target),
              "acc5": float((top == target[:, None]).any(dim=1).float().sum()) / len(target),
              "mean_per_class_recall": balanced_accuracy_score(target, logits.argmax(dim=1))}  # fmt: skip
    images, _ = split_embeddings(model, dataset, "test", EmbeddingCache(tmp_path / "cache"), SETTINGS)
    ranked = ranked_classes(images, prompt_embeddings(model, names, templates, SETTINGS))

    assert ranked[:, 0].tolist() == logits.argmax(dim=1).tolist()  # identical predictions
    assert ranked[:, :5].tolist() == top.tolist()
    m = outcome.metrics
    assert m["zeroshot_acc1"] == theirs["acc1"] and m["zeroshot_acc5"] == theirs["acc5"]
    assert m["zeroshot_balanced_accuracy"] == pytest.approx(theirs["mean_per_class_recall"], abs=1e-12)
    assert m["zeroshot_n_classes"] == 6 and m["zeroshot_n_test"] == len(labels)


def test_title_search_equals_clip_benchmark_text_to_image_recall(model: Any, titled: str, tmp_path: Path) -> None:
    [outcome] = run_cells([cell(titled, "text_retrieval", queries="title")], tmp_path)
    assert outcome.error is None
    dataset = resolve_dataset(titled)
    titles = dataset.texts("title").by_key
    images = Images(model, dataset, [], [])
    images.target = [[titles[item.key]] for item in images.items]  # each image with its one title

    def collate(batch: list[tuple[Any, Any]]) -> tuple[Any, list[list[str]]]:
        return torch.stack([b[0] for b in batch]), [b[1] for b in batch]

    loader = torch.utils.data.DataLoader(images, batch_size=32, collate_fn=collate)
    theirs = zeroshot_retrieval.evaluate(model.text.module, loader, model.text.tokenize, "cpu", amp=False,
                                         recall_k_list=[1, 5, 10])  # fmt: skip
    for k in (1, 5, 10):  # CLIP_benchmark's "image retrieval" is text -> image; float32 means
        assert outcome.metrics[f"text_hit_at_{k}"] == pytest.approx(theirs[f"image_retrieval_recall@{k}"], abs=1e-6)
    assert outcome.metrics["text_n_queries"] == len(images) == outcome.metrics["text_n_gallery"]


def test_bf16_text_embeddings_agree_with_fp32(model: Any) -> None:
    texts = [f"a photo of a {c} number {i}" for i, c in enumerate(("shoe", "dress", "red bag", "watch", "shirt"))]
    full = text_embeddings(model, texts, SETTINGS)
    bf16 = text_embeddings(model, texts, Extraction(workers=0, precision="bf16"))
    assert not np.array_equal(full, bf16)  # autocast did run
    # stated tolerance, as for images: bf16 autocast keeps every text embedding's direction (cosine >= 0.98)
    cosine = (l2_normalise(full) * l2_normalise(bf16)).sum(axis=1)
    assert cosine.min() >= 0.98, cosine.min()


def test_fused_documents_at_w1_are_todays_cell_and_at_w0_a_pure_title_search(
    model: Any, titled: str, tmp_path: Path
) -> None:
    plain = resolve_params("retrieval", "pretrained", {"backend": "exact"})
    assert resolve_params("retrieval", "pretrained", {"backend": "exact", "image_weight": 1}) == plain  # same key
    assert "image_weight" not in plain
    with pytest.raises(HarnessError, match=r"image_weight=1.5 must lie in \[0, 1\]"):
        resolve_params("retrieval", "pretrained", {"image_weight": 1.5})

    outcomes = run_cells([cell(titled, "retrieval", backend="exact", image_weight=w) for w in (1.0, 0.0)], tmp_path)
    assert [o.error for o in outcomes] == [None, None]
    dataset = resolve_dataset(titled)
    manifest = dataset.manifest()
    test = manifest.indices("test")
    labels = np.asarray(manifest.labels(test))
    images, _ = split_embeddings(model, dataset, "test", EmbeddingCache(tmp_path / "cache"), SETTINGS)
    queries = l2_normalise(images)
    titles = dataset.texts("title").by_key
    documents = prompt_embeddings(model, [titles[manifest.items[i].key] for i in test], ("{c}",), SETTINGS)
    n_relevant = relevant_counts(labels, labels, leave_one_out=True)
    depth = min(max(10, int(n_relevant.max())), len(labels) - 1)

    def scored(gallery: np.ndarray) -> dict[str, float]:
        similarity = queries @ gallery.T
        np.fill_diagonal(similarity, -np.inf)  # the item itself is no neighbour of its own image
        ranked = np.argsort(-similarity, axis=1, kind="stable")[:, :depth]
        return per_query_metrics(labels[ranked], labels, n_relevant).means().as_dict()

    for outcome, gallery in zip(outcomes, (queries, documents), strict=True):
        for name, value in scored(gallery).items():
            assert outcome.metrics[name] == pytest.approx(value, abs=1e-12), name


def test_the_smoke_text_grid_runs_and_lists_what_it_skips(tmp_path: Path) -> None:
    grid = load_grid(SMOKE_TEXT)
    reasons = sorted({s.reason for s in grid.skipped})
    assert reasons == [
        "digits[per_class=4] has no text field 'title' (its text fields: class)",
        f"{SYNTHETIC} has no text field 'title' (its text fields: class)",
        "timm:test_resnet[init=random] has no text tower (the text suites need a text-image model, e.g. open_clip)",
    ]
    assert sorted((c.model.split(":")[0], c.suite) for c in grid.cells) == sorted(
        [("open_clip", s) for s in ("text_retrieval", "zeroshot", "retrieval") for _ in range(2)]
        + [("timm", "retrieval")] * 2
    )
    outcomes = run_cells(grid.cells, tmp_path)
    assert [o.error for o in outcomes] == [None] * len(grid.cells)
    with duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT suite, count(DISTINCT run_id) FROM results WHERE metric IN ('text_map', 'zeroshot_acc1', "
            "'mmp_at_5') GROUP BY suite ORDER BY suite"
        ).fetchall()
    assert rows == [("retrieval", 4), ("text_retrieval", 2), ("zeroshot", 2)]


def test_texts_are_declared_and_a_missing_field_is_one_clear_error(titled: str) -> None:
    digits = resolve_dataset("digits[per_class=2]")
    assert digits.text_fields() == (CLASS_FIELD,) and resolve_dataset(titled).text_fields() == (CLASS_FIELD, "title")
    assert set(digits.texts(CLASS_FIELD).by_key.values()) == {str(d) for d in range(10)}
    with pytest.raises(HarnessError, match=r"dataset 'digits\[per_class=2\]' has no text field 'title' \(its text "
                                           r"fields: class\)"):  # fmt: skip
        digits.texts("title")
    with pytest.raises(HarnessError, match=r"templates='a photo' is neither a template set"):
        resolve_params("zeroshot", "pretrained", {"templates": "a photo"})


@pytest.mark.slow
def test_the_cost_suite_times_a_text_query_of_a_text_image_model(tmp_path: Path) -> None:
    small = {"warmup": 1, "iterations": 5, "throughput_iterations": 1, "max_batch_cpu": 1, "pipeline_images": 2,
             "pipeline_repeats": 1}  # fmt: skip
    [outcome] = run_cells([cell(SYNTHETIC, "cost", **small)], tmp_path)
    assert outcome.error is None
    m = outcome.metrics
    assert 0 < m["text_latency_b1_p50_ms"] <= m["text_latency_b1_p99_ms"]
    assert m["text_throughput_queries_s"] > 0


def test_a_judgement_file_over_the_whole_catalogue_equals_trec_eval(model: Any, titled: str, tmp_path: Path) -> None:
    """Marqo's protocol: queries and judgements from a qrels file, documents matched by file stem, the whole
    catalogue (train + test) searched, top 10 scored; our numbers against pytrec_eval on the same ranking."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    dataset = resolve_dataset(titled)
    qrels = {"pink triangle item number 5": {"5": 1}, "a pink shape": {"0": 1, "6": 1, "13": 1},
             "nothing we have": {"999": 1}}  # fmt: skip
    path = tmp_path / "qrels.json"
    path.write_text(json.dumps(qrels))
    given = {"queries": "title", "qrels": str(path), "split": "all", "depth": 10}
    outcomes = run_cells([cell(titled, "text_retrieval", **given), cell(titled, "text_retrieval", **given,
                                                                          image_weight=0.9)], tmp_path)  # fmt: skip
    assert [o.error for o in outcomes] == [None, None]
    manifest = dataset.manifest()
    items = [manifest.items[i] for split in ("train", "test") for i in manifest.indices(split)]
    cache = EmbeddingCache(tmp_path / "cache")
    images = np.concatenate([split_embeddings(model, dataset, s, cache, SETTINGS)[0] for s in ("train", "test")])
    queries = prompt_embeddings(model, list(qrels), ("{c}",), SETTINGS)
    ranked = np.argsort(-(queries @ l2_normalise(images).T), axis=1, kind="stable")[:, :10]
    run = {q: {Path(items[d].key).stem: 1.0 / (r + 1) for r, d in enumerate(row)}
           for q, row in zip(qrels, ranked, strict=True)}  # fmt: skip
    judged = {q: docs for q, docs in qrels.items() if q != "nothing we have"}  # no judged item in the catalogue
    trec = pytrec_eval.RelevanceEvaluator(judged, {"recall.1,10", "recip_rank", "map", "ndcg_cut.10"}).evaluate(run)
    m = outcomes[0].metrics
    assert m["text_n_queries"] == 2 and m["text_n_excluded"] == 1 and m["text_n_gallery"] == len(items)
    for measure, name in (
        ("recall_1", "text_recall_at_1"),
        ("recall_10", "text_recall_at_10"),
        ("recip_rank", "text_mrr"),
        ("map", "text_map"),
        ("ndcg_cut_10", "text_ndcg_at_10"),
    ):
        assert m[name] == pytest.approx(np.mean([trec[q][measure] for q in judged]), abs=1e-12), name
    assert outcomes[1].run_id != outcomes[0].run_id  # fused documents: another cell
