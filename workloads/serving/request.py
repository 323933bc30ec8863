"""One serving request's state as it moves through routing, prefill, KV transfer and decode.

Vocabulary:
- ``prompt``: prompt tokens; ``output``: tokens to generate; ``generated``: tokens produced so
  far (the prefill's last iteration produces the first). A request is done when
  ``generated == output``, never beyond.
- ``computed``: tokens whose KV the current replica holds for this request; a prefill brings it
  to ``context`` (= prompt + generated, the tokens a recompute after preemption must rebuild);
  ``hit``: leading tokens served from the prefix cache (no prefill compute).
- timestamps (seconds): ``arrival`` (at the server's frontend; the engine sees it
  ``frontend_s`` later), ``scheduled`` (first admitted to a batch), ``first_token``
  (delivered to the user: after the KV transfer and the first decode step when disaggregated),
  ``finish``.
"""

from __future__ import annotations


class Request:
    __slots__ = ("rid", "arrival", "prompt", "output", "blocks", "generated", "computed",
                 "kv_blocks", "pinned", "hit", "scheduled", "first_token", "finish", "replica",
                 "prefill_replica", "kv_transfer_s", "preemptions", "reserved", "prefix_hit_tokens",
                 "ready", "swapped", "prefill_done_s", "frontend_s", "submitted", "dp_rank")

    def __init__(self, rid: int, arrival: float, prompt: int, output: int, blocks=None):
        self.rid = rid
        self.arrival = arrival
        self.prompt = int(prompt)
        self.output = int(output)
        self.blocks = blocks            # prefix-block ids (trace), or None
        self.generated = 0
        self.computed = 0
        self.kv_blocks = 0              # KV blocks this request owns on its current replica
        self.pinned = ()                # prefix-cache entries it pins there
        self.hit = 0
        self.scheduled = -1.0
        self.first_token = -1.0
        self.finish = -1.0
        self.replica = -1
        self.prefill_replica = -1
        self.kv_transfer_s = 0.0
        self.preemptions = 0
        self.reserved = 0               # tokens reserved at admission (orca)
        self.prefix_hit_tokens = 0
        self.ready = True               # False while its prefix KV loads from host/SSD
        self.swapped = False
        self.prefill_done_s = -1.0
        self.frontend_s = 0.0           # host time before the engine saw it (HTTP, tokenizer, IPC)
        self.submitted = -1.0           # when it first reached a replica (arrival + frontend_s)
        self.dp_rank = -1               # its attention-DP rank while admitted (Replica.dp_ranks > 1), else -1

    @property
    def context(self) -> int:
        """Tokens whose KV a decode step reads (prompt + tokens generated so far)."""
        return self.prompt + self.generated

    @property
    def remaining(self) -> int:
        return self.output - self.generated
