"""Speculative decoding: what one draft-and-verify step of a replica costs and yields.

Vocabulary (``serve.speculative``; seconds, tokens):
- draft step: one forward of the drafter over ``B x topk`` tokens (``topk``: tree branches kept
  per step, EAGLE; 1 = a chain): ``draft_layers`` target-layer equivalents (an EAGLE/MTP head:
  1; a separate small model: its layer count scaled to the target's layer width) and the draft
  LM head over ``draft_vocab`` rows (EAGLE-3 heads predict a reduced vocabulary), then the
  engine's work of a draft step beyond that layer model, per step (``EngineProfile.spec_draft_step_us_gpu``:
  the draft loop's small kernels, softmax and top-k over the draft vocabulary and the tree-score
  selection, latency-bound at serving batches) and per sequence (``spec_draft_seq_us``, host time).
  ``tokens`` draft steps run one after another.
- verify: one target forward over ``B x verify_tokens`` tokens (the tree's nodes, or the chain
  and the bonus position: ``tokens + 1``), each attending to its sequence's context (the KV is
  read once per sequence), with logits for every verified token.
- draft extend (EAGLE/MTP): the drafter's pass over the tokens the verify accepted, which
  refreshes its hidden states for the next step.
- host: the engine's step overhead plus ``EngineProfile.spec_step_us`` (+ ``spec_seq_us`` per
  sequence), CPU work that speculation adds and does not hide (SGLang <= 0.5.3 disables its overlap scheduler under speculation: tree
  construction, accept-length device-to-host sync, freeing rejected KV slots).
- yield: ``gain`` = 1 + sum of per-position acceptance = mean tokens one step emits (the
  ``accept length`` engines log); a step's seconds over ``gain`` is a generated token's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Speculation:
    tokens: int
    gain: float
    verify: int
    draft_layers: float
    topk: int = 1
    draft_vocab: int = 0            # 0: the target's vocabulary
    step_s: float = 0.0             # engine CPU per speculative step (EngineProfile.spec_step_us)
    seq_s: float = 0.0              # engine CPU per sequence per speculative step (spec_seq_us)
    draft_seq_s: float = 0.0        # engine work per sequence per draft step (spec_draft_seq_us)
    method: str = "eagle"           # serve.speculative.method: what the drafter holds (weight_bytes)
    mtp_layers: int = 0             # model.mtp_layers: the checkpoint's MTP modules (method 'mtp')
    draft_step_s: float = 0.0       # engine GPU work per draft step beyond the layer model (spec_draft_step_us_gpu)

    @classmethod
    def from_config(cls, tokens: int, acceptance, verify_tokens: int | None = None,
                    draft_layers: float = 1.0, topk: int = 1, draft_vocab: int | None = None,
                    step_s: float = 0.0, seq_s: float = 0.0, draft_seq_s: float = 0.0, method: str = "eagle",
                    mtp_layers: int = 0, draft_step_s: float = 0.0) -> "Speculation":
        acc = list(acceptance) if isinstance(acceptance, (list, tuple)) else [float(acceptance)] * tokens
        return cls(int(tokens), 1.0 + float(sum(acc)), int(verify_tokens or tokens + 1), float(draft_layers),
                   int(topk), int(draft_vocab or 0), float(step_s), float(seq_s), float(draft_seq_s),
                   str(method), int(mtp_layers or 0), float(draft_step_s))

    # -- the drafter's weights (HBM ledger and MBU) -----------------------------------------------
    @staticmethod
    def layer_bytes(cost) -> float:
        """Bytes of one target decoder layer as the pricing models a drafter layer (``step_parts``:
        ``cost.layers`` over ``stage_layers``, the mean target layer at the serving precision, routed
        experts at their own, ``IterationCost._mb_const`` less the embeddings and head)."""
        s = cost.spec
        body = (cost.params - s.embedding_params()) * cost.wbytes + cost.expert_extra_bytes + cost.expert_pad_bytes
        return body / max(s.layers, 1)

    def _parts(self, cost) -> tuple[float, float, float, float]:
        """(layers, projection, own head and embedding, head read per draft step) bytes of the
        drafter on the whole replica. What each method holds beside the target's weights:
        - 'mtp' (DeepSeek-V3 / R1 ``model.layers.61``): ``model.mtp_layers`` modules, each one decoder
          layer, the ``eh_proj`` projection (2 x hidden -> hidden) and three RMSNorms (enorm, hnorm,
          shared_head.norm); the embedding and LM head are the target's (SGLang and vLLM share them).
        - 'eagle': one head of ``draft_layers`` decoder layers and its fc over the concatenated
          features (EAGLE-1/2: 2 x hidden -> hidden, embedding and head the target's; EAGLE-3, the
          head with a reduced ``draft_vocab``: 3 x hidden -> hidden and its own draft_vocab x hidden LM head).
        - 'draft': a separate model of ``draft_layers`` target-layer equivalents with its own embedding
          and LM head (draft_vocab rows, default the target's), 16-bit like the target's head.
        Each draft step reads its layers, projection and the head it predicts with (its own or the target's)."""
        s, h = cost.spec, float(cost.spec.hidden)
        vocab = float(self.draft_vocab or s.vocab)
        hb = cost._h_bytes
        L = self.layer_bytes(cost)
        head_read = h * vocab * hb
        if self.method == "mtp":
            n = max(self.mtp_layers, 1)
            return n * L, n * (2.0 * h * h * cost.wbytes + 3.0 * h * 2.0), 0.0, head_read
        if self.method == "draft":
            emb = vocab * h * (1 if s.tied_embeddings else 2) * hb
            return self.draft_layers * L, 0.0, emb, head_read
        eagle3 = 0 < self.draft_vocab < s.vocab
        own_head = h * vocab * hb if eagle3 else 0.0
        return self.draft_layers * L, (3.0 if eagle3 else 2.0) * h * h * hb, own_head, head_read

    def weight_bytes(self, cost) -> float:
        """Bytes of the drafter's weights on one GPU (sharded over the replica's TP group, as the
        engines run the draft worker at the target's tp): they come out of the KV pool."""
        layers, proj, own, _ = self._parts(cost)
        return (layers + proj + own) / cost.tp

    def step_read_bytes(self, cost, batch: float | None = None) -> float:
        """Drafter weight bytes one draft-and-verify step reads on the whole replica: its layers,
        projection and head at each of the ``tokens`` draft steps and at the draft extend (EAGLE/MTP,
        ``draft_layers`` > 0), as ``step_parts`` times them (for MBU). With ``batch`` (sequences) an
        MoE layer's routed experts count only as far as the pass's tokens reach them
        (``IterationCost.untouched_expert_bytes``: B x topk rows a draft step, B x gain the extend)."""
        _, proj, _, head = self._parts(cost)
        if self.method == "mtp":
            proj /= max(self.mtp_layers, 1)       # one module per draft step
        L = self.layer_bytes(cost)
        layers = float(max(cost.spec.layers, 1))

        def layer(rows):
            return L if batch is None else L - cost.untouched_expert_bytes(rows) / layers

        total = self.tokens * (self.draft_layers * layer(None if batch is None else batch * self.topk) + proj + head)
        if self.draft_layers > 0:
            total += self.draft_layers * layer(None if batch is None else batch * self.gain) + proj + head
        return total

    def step_parts(self, cost, B: float, context: float) -> dict[str, float]:
        """Seconds of each part of one step of ``B`` sequences with summed ``context`` on the
        replica whose ``IterationCost`` is ``cost``: ``verify``, ``draft``, ``extend``, ``host``."""
        V = float(self.verify)
        # CUDA graphs (serve.cuda_graph_batch_sizes, IterationCost.padded): a step of B sequences replays
        # the smallest captured graph of >= B, as a plain decode step does; the verify's GEMMs, head and
        # all-reduces run over P x verify rows, the drafter's over P x topk (its steps) and P x gain (the
        # extend), the padding copies of one dummy request; attention runs over the real sequences only
        P = cost.padded(B, B)
        T, Tp = B * V, P * V
        verify = (cost.pp * (cost._fixed_stage_s(Tp, Tp, T if P != B else None) + cost._attn_s(T, context * V, context))
                  + cost._comm(Tp)[2])
        Ls = float(cost.stage_layers)

        def drafter(n: float, rows: float) -> float:
            # draft_layers of the target's layer shape over n (padded: n x P / B) rows, each real one
            # attending to its context
            body = self.draft_layers * (cost.layers.seconds(n * P / B) + cost._attn_s(n, context * n / B, context)) / Ls
            return body + self._head_s(cost, rows * P / B)

        n = B * self.topk
        draft = self.tokens * (drafter(n, n) + self.draft_step_s + self.draft_seq_s * B)
        extend = drafter(B * self.gain, B) if self.draft_layers > 0 else 0.0
        host = cost.overhead_s + self.step_s + (cost.host_per_seq_s + self.seq_s) * B
        return {"verify": verify, "draft": draft, "extend": extend, "host": host}

    def _head_s(self, cost, rows: float) -> float:
        """The draft LM head over ``rows`` rows (the target's head when ``draft_vocab`` is 0), at the target
        head's precision (IterationCost._head_precision: the 16-bit head of a low-precision checkpoint; EAGLE
        drafters ship bf16)."""
        s = cost.spec
        vocab = self.draft_vocab or s.vocab
        share = vocab / s.vocab / cost.tp
        return cost.compute.time_of(rows * 2.0 * s.hidden * vocab / cost.tp,
                                    cost._h_bytes * s.hidden * vocab / cost.tp + rows * 4.0 * s.vocab * share, 0.0, 0,
                                    1.0, rate=cost._h_rate)

    def token_s(self, cost, B: float, context: float) -> float:
        """Seconds per generated token of a decode step of ``B`` sequences with speculation."""
        return sum(self.step_parts(cost, B, context).values()) / self.gain


class SpecTally:
    """What one replica's decode steps emitted, for the summary's speculative figures
    (``summary_columns``), counted per sequence as the steps ran (tokens):

    - ``passes``: verify passes, one per sequence per draft-and-verify step. The replica times a
      speculative macro-step of ``n`` generated tokens per sequence as ``n / gain`` steps
      (``DecodeRun``: each token costs a step over ``gain``), so each of its ``B`` sequences made
      ``n / gain`` passes (a fraction where ``n`` is not a multiple of ``gain``: a request that ends
      part-way through a step is charged the part it ran, as its time was).
    - ``emitted``: tokens those passes emitted (accepted drafts plus the bonus token of each pass).
    - ``plain``: decode tokens of steps that ran without speculation (a step with prompt chunks,
      ``Replica._mixed_iteration``: the pricing runs its decodes as one plain forward each).
    - ``prefill``: first tokens, one per prefill that finished (a recomputed one after preemption too).

    ``prefill + plain + emitted`` over a run's replicas is every request's generated tokens."""

    __slots__ = ("passes", "emitted", "plain", "prefill")

    def __init__(self) -> None:
        self.passes = 0.0
        self.emitted = 0
        self.plain = 0
        self.prefill = 0

    def add_speculative(self, sequences: int, tokens_each: int, gain: float) -> None:
        """``sequences`` sequences each emitted ``tokens_each`` tokens in speculative steps yielding
        ``gain`` tokens per sequence per step."""
        self.emitted += sequences * tokens_each
        self.passes += sequences * tokens_each / gain


# the serving summary's speculative columns (summary_columns) and their Arrow types
SUMMARY_TYPES = {"spec_acceptance_length": pa.float64(), "spec_acceptance_rate": pa.float64(),
                 "spec_draft_tokens": pa.int64(), "spec_accepted_tokens": pa.int64()}


def summary_columns(speculative, tallies) -> dict:
    """The serving summary's speculative figures from the replicas' ``SpecTally`` s, given the
    config's ``serve.speculative`` (its ``tokens``), all null (None) when it is None (unset):

    - ``spec_acceptance_length``: tokens emitted per verify pass, the bonus token included (vLLM's
      SpecDecoding "Mean acceptance length", SGLang's "accept len"); null when no speculative step ran.
    - ``spec_acceptance_rate``: accepted draft tokens over drafted (vLLM's "Draft acceptance rate");
      null when none was drafted.
    - ``spec_draft_tokens``: drafted tokens, ``tokens`` (the draft steps, chain positions) per verify
      pass, as vLLM counts them (tree branches beyond the chain, ``topk``, are not counted).
    - ``spec_accepted_tokens``: accepted draft tokens, emitted less one bonus token per pass.

    The two counts are rounded to whole tokens; the length and rate come from the unrounded counts."""
    if speculative is None:
        return dict.fromkeys(SUMMARY_TYPES)
    passes = sum(t.passes for t in tallies)
    emitted = sum(t.emitted for t in tallies)
    drafted = passes * speculative.tokens
    accepted = emitted - passes
    return {
        "spec_acceptance_length": emitted / passes if passes > 0 else None,
        "spec_acceptance_rate": accepted / drafted if drafted > 0 else None,
        "spec_draft_tokens": int(round(drafted)),
        "spec_accepted_tokens": int(round(accepted)),
    }
