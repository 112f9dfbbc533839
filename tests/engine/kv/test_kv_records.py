"""Record-aware KV policies (engine/kv/records.py): the records kept against a reference computed here, whole
records, the always-kept question and instructions, and clear errors before any work on bad segments."""

from __future__ import annotations

import math

import pytest
import torch

from engine.kv import KVSpec, RecordKV, RecordKVAgnostic, RecordKVPerHead, ScoreInputs, Segment, parse_kv_spec
from engine.kv.segments import check_segments, to_token_segments
from engine.llm import LLM
from tests.helpers.tiny import PROMPT

N, HQ, HKV, W, D = 170, 4, 2, 8, 16
# instructions, 8 records of 9..16 tokens with glue between them, the question at the end
RECORDS = [Segment(10 + 18 * i, 10 + 18 * i + 9 + (i * 5) % 8, "record") for i in range(8)]
SEGMENTS = check_segments([Segment(0, 8, "instructions"), *RECORDS, Segment(N - 12, N, "question")], N)


def _inputs(seed: int = 0) -> ScoreInputs:
    g = torch.Generator().manual_seed(seed)
    keys, values = torch.randn(1, HKV, N, D, generator=g), torch.randn(1, HKV, N, D, generator=g)
    acc = torch.rand(1, HKV, N, generator=g)
    return ScoreInputs(keys, values, torch.randn(1, HQ, W, D, generator=g), 0, 2, acc, segments=tuple(SEGMENTS))


def _window_mass(inp: ScoreInputs) -> torch.Tensor:
    """Reference: attention of the W window queries (the last W positions) over every key, causal, averaged over
    the window and each KV head's query group: (HKV, N)."""
    q = inp.queries[0].float()  # (HQ, W, D)
    k = inp.keys[0].float().repeat_interleave(HQ // HKV, dim=0)  # (HQ, N, D)
    logits = q @ k.transpose(1, 2) / math.sqrt(D)  # (HQ, W, N)
    for i in range(W):
        logits[:, i, N - W + i + 1:] = -math.inf
    return logits.softmax(-1).mean(1).view(HKV, HQ // HKV, N).mean(1)


def _fixed(recent: int) -> set[int]:
    inside = {p for s in RECORDS for p in range(s.start, s.end)}
    return {p for p in range(N) if p not in inside} | set(range(N - recent, N))


def _greedy(mass: list[float], sizes: list[int], room: int) -> list[int]:
    out, left = [], room
    for r in sorted(range(len(mass)), key=lambda r: -mass[r]):
        if sizes[r] <= left:
            out.append(r)
            left -= sizes[r]
    return out


@pytest.mark.parametrize("budget", [80, 100, 130])
def test_records_keeps_the_top_records_by_summed_window_attention(budget: int) -> None:
    inp = _inputs()
    policy = RecordKV(budget=budget, window=W)
    fixed = _fixed(W)
    mass = _window_mass(inp).sum(0)  # summed over the KV heads: one choice per layer
    per_record = [float(mass[s.start:s.end].sum()) for s in RECORDS]
    chosen = _greedy(per_record, [len(s) for s in RECORDS], budget - len(fixed))
    expected = sorted(fixed | {p for r in chosen for p in range(RECORDS[r].start, RECORDS[r].end)})
    idx = policy.keep_indices(inp, n_seen=N)
    assert idx is not None and len(expected) <= budget
    for h in range(HKV):
        assert idx[0, h].tolist() == expected


def test_records_per_head_gives_each_head_its_best_records_whole() -> None:
    inp = _inputs(seed=3)
    budget = 100
    policy = RecordKVPerHead(budget=budget, window=W)
    fixed = _fixed(W)
    room = budget - len(fixed)
    sizes = [len(s) for s in RECORDS]
    mass = _window_mass(inp)
    per_head = [[float(mass[h, s.start:s.end].sum()) for s in RECORDS] for h in range(HKV)]
    chosen = [_greedy(per_head[h], sizes, int(policy.alpha_safeguard * room)) for h in range(HKV)]
    pool = HKV * room - sum(sizes[r] for c in chosen for r in c)
    for flat in sorted(range(HKV * len(RECORDS)), key=lambda i: -per_head[i // len(RECORDS)][i % len(RECORDS)]):
        h, r = divmod(flat, len(RECORDS))
        if r not in chosen[h] and sizes[r] <= pool:
            chosen[h].append(r)
            pool -= sizes[r]
    idx = policy.keep_indices(inp, n_seen=N)
    longest = max(sum(sizes[r] for r in c) for c in chosen)
    assert idx is not None and idx.shape[-1] == len(fixed) + longest
    for h in range(HKV):
        kept = set(idx[0, h].tolist())
        assert fixed <= kept
        assert all(set(range(RECORDS[r].start, RECORDS[r].end)) <= kept for r in chosen[h])


def test_records_agnostic_scores_attention_per_query_that_saw_the_token() -> None:
    inp = _inputs(seed=5)
    assert inp.attn_sum is not None
    policy = RecordKVAgnostic(budget=100, window=W)
    ref = inp.attn_sum[0] / torch.arange(N, 0, -1)  # token p was seen by the N - p queries at p..N-1
    torch.testing.assert_close(policy.score(inp)[0], ref)
    fixed = _fixed(W)
    per_record = [float(ref[:, s.start:s.end].sum()) for s in RECORDS]
    chosen = _greedy(per_record, [len(s) for s in RECORDS], 100 - len(fixed))
    idx = policy.keep_indices(inp, n_seen=N)
    assert idx is not None
    assert idx[0, 0].tolist() == sorted(fixed | {p for r in chosen for p in range(RECORDS[r].start, RECORDS[r].end)})


def test_records_budget_covering_everything_keeps_everything() -> None:
    assert RecordKV(budget=N, window=W).keep_indices(_inputs(), n_seen=N) is None


@pytest.mark.parametrize("factory", [RecordKV, RecordKVPerHead, RecordKVAgnostic])
def test_records_generate_keeps_whole_records_on_a_tiny_model(tiny_llm: LLM, factory: type[RecordKV]) -> None:
    n = len(PROMPT)
    segs = (Segment(0, 6, "instructions"), *(Segment(8 + 11 * i, 17 + 11 * i) for i in range(7)),
            Segment(n - 12, n, "question"))
    spec = KVSpec(factory(ratio=2.0, window=8), segments=segs)
    g = tiny_llm.generate(PROMPT, max_new_tokens=4, kv_policy=spec)
    fixed = n - 7 * 9
    assert g.kv_stats["kv_tokens_min"] >= fixed + 3  # the fixed tokens and the decoded ones at least
    assert (g.kv_stats["kv_tokens_max"] - fixed - 3) % 9 == 0 or factory is RecordKVPerHead  # whole records
    assert g.kv_stats["kv_tokens_mean"] < n and len(g.token_ids) == 4
    ref = tiny_llm.generate(PROMPT, max_new_tokens=4)
    assert tiny_llm.generate(PROMPT, max_new_tokens=4, kv_policy=KVSpec(factory(ratio=1.0), segments=segs)
                             ).token_ids == ref.token_ids


def test_records_by_name() -> None:
    assert isinstance(parse_kv_spec("records@4").policy, RecordKV)
    assert isinstance(parse_kv_spec("records-head@8").policy, RecordKVPerHead)
    assert isinstance(parse_kv_spec("records-agnostic@4", when="chunks").policy, RecordKVAgnostic)


def _forbid_work(llm: LLM, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model ran before the input was checked")

    monkeypatch.setattr(llm.model, "forward", boom)


@pytest.mark.parametrize(("segments", "message"), [
    ((Segment(0, 10), Segment(5, 20)), "overlap"),
    ((Segment(90, 120),), "inside the prompt"),
    ((Segment(0, 8, "question"),), "record segments"),
    ((Segment(0, 70, "question"), Segment(70, 90)), "smaller than the question"),
])
def test_records_bad_segments_fail_before_any_work(tiny_llm: LLM, monkeypatch: pytest.MonkeyPatch,
                                                   segments: tuple[Segment, ...], message: str) -> None:
    _forbid_work(tiny_llm, monkeypatch)
    with pytest.raises(ValueError, match=message):
        tiny_llm.generate(PROMPT, max_new_tokens=2, kv_policy=KVSpec(RecordKV(ratio=4.0, window=8), segments=segments))


def test_records_without_segments_or_evicting_every_step_is_refused(tiny_llm: LLM,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_work(tiny_llm, monkeypatch)
    with pytest.raises(ValueError, match="record segments"):
        tiny_llm.generate(PROMPT, max_new_tokens=2, kv_policy=RecordKV(ratio=4.0))
    with pytest.raises(ValueError, match="compresses once"):
        RecordKV(ratio=4.0, when="always")
    with pytest.raises(ValueError, match="compresses once"):  # prefill_chunk 32: several chunk compressions
        tiny_llm.generate(PROMPT, max_new_tokens=2, kv_policy=KVSpec(RecordKV(ratio=2.0, when="chunks"),
                                                                    segments=(Segment(0, 50),)))
    with pytest.raises(ValueError, match="unknown segment kind"):
        Segment(0, 3, "evidence")


def test_records_text_spans_map_to_the_tokens_of_each_part() -> None:
    from engine.tokenizer import load_tokenizer

    tok = load_tokenizer()
    parts = [("instructions", "Answer from the evidence.\n"), ("record", "[E1] order #1234 shipped by DHL"),
             ("instructions", "\n\n"), ("record", "[E2] order #99 refunded $12.50"),
             ("question", "\n\nQuestion: when did #99 get its refund?")]
    text, spans, at = "", [], 0
    for kind, piece in parts:
        spans.append(Segment(at, at + len(piece), kind))
        text, at = text + piece, at + len(piece)
    ids, offsets = tok.encode_offsets(text)
    toks = to_token_segments(spans, offsets, len(text))
    assert [s.kind for s in toks] == [k for k, _ in parts] and toks[0].start == 0 and toks[-1].end == len(ids)
    assert all(a.end == b.start for a, b in zip(toks, toks[1:], strict=False))  # contiguous parts stay contiguous
    for s, (_, piece) in zip(toks, parts, strict=True):
        assert tok.decode(ids[s.start:s.end]).strip() == piece.strip()
    with pytest.raises(ValueError, match="overlap"):
        check_segments([Segment(0, 5), Segment(4, 9)], 10)


def test_records_from_layer_chooses_once_for_every_layer_by_the_upper_layers_mass() -> None:
    n_layers = 4
    layers = [_inputs(seed=10 + i) for i in range(n_layers)]
    for i, inp in enumerate(layers):
        inp.layer, inp.n_layers = i, n_layers
    policy = RecordKV(budget=100, window=W, from_layer=0.5)
    fixed = _fixed(W)
    total = [0.0] * len(RECORDS)
    for inp in layers[2:]:  # layers 2 and 3 vote, each layer's record masses normalised per KV head
        mass = _window_mass(inp)  # (HKV, N)
        per = torch.tensor([[float(mass[h, s.start:s.end].sum()) for s in RECORDS] for h in range(HKV)])
        per = per / per.sum(-1, keepdim=True)
        total = [t + float(x) for t, x in zip(total, per.sum(0), strict=True)]
    chosen = _greedy(total, [len(s) for s in RECORDS], 100 - len(fixed))
    expected = sorted(fixed | {p for r in chosen for p in range(RECORDS[r].start, RECORDS[r].end)})
    plan = policy.keep_indices_layers(layers, n_seen=N)
    assert len(plan) == n_layers
    for idx in plan:
        assert idx is not None and all(idx[0, h].tolist() == expected for h in range(HKV))
    with pytest.raises(ValueError, match="fraction"):
        RecordKV(ratio=4.0, from_layer=1.5)


def test_records_from_layer_keeps_the_same_tokens_in_every_layer(tiny_llm: LLM) -> None:
    n = len(PROMPT)
    segs = (Segment(0, 6, "instructions"), *(Segment(8 + 11 * i, 17 + 11 * i) for i in range(7)),
            Segment(n - 12, n, "question"))
    g = tiny_llm.generate(PROMPT, max_new_tokens=4, kv_policy=KVSpec(RecordKV(ratio=2.0, window=8, from_layer=0.5),
                                                                     segments=segs))
    assert g.kv_stats["kv_tokens_min"] == g.kv_stats["kv_tokens_max"] < n
