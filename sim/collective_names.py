"""The names of collectives, algorithms and NCCL protocols (``sim.collectives`` runs them).

A module of names alone, without numpy or the fabric, so that the command line lists them in its
``--help`` from the registry itself without importing the simulator (about a second).

Vocabulary (``sim.collectives`` says what each does):
- ``OPS``: the collectives; ``send_recv`` takes a group of two.
- ``ALGOS``: ``auto`` (NCCL's tuner chooses) and every algorithm ``sim.collectives.plan`` runs.
- ``PROTOCOLS``: NCCL's protocols, each with its own bandwidth share and per-step latency.
- ``DTYPES``: nccl-tests' data types (its ``-d`` names, src/common.cu ``test_typenames``) and
  their element sizes in bytes (NCCL's ``ncclTypeSize``); ``f8e4m3`` and ``f8e5m2`` are NCCL's FP8
  types (NCCL >= 2.24). ``dcsim collective --dtype`` takes them (``sim.app.nccl_table``).
"""

OPS = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all", "broadcast", "send_recv")
ALGOS = ("auto", "ring", "tree", "hierarchical", "direct", "nvls", "nvls_tree")
PROTOCOLS = ("LL", "LL128", "Simple")
DTYPES = {"int8": 1, "uint8": 1, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "half": 2,
          "float": 4, "double": 8, "bfloat16": 2, "f8e4m3": 1, "f8e5m2": 1}
