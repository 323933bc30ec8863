"""dcsim: a discrete-event simulator of AI datacenters.

The import package is ``sim``; the building blocks (kernel, hardware, fabric, collectives,
compute model, metrics) live here and know nothing of ``topologies`` or ``workloads``.
Only the application subpackage ``sim.app`` (composition root, CLI, sweeps, analysis,
validation) imports all three.
"""

__version__ = "0.1.0"
