"""The application: the composition root and everything a user drives.

Vocabulary:
- composition root: ``sim.app.runner`` turns a validated ``Config`` into a ``Simulation`` with a
  topology (from ``topologies``) and workloads (from ``workloads``) and writes the run's tables;
- the command line (``sim.app.cli``), sweeps (``sim.app.sweep``), analysis (``sim.app.analyze``),
  validation suites (``sim.app.validation``) and the generated config reference (``sim.app.docs``).

Only this subpackage imports ``topologies`` and ``workloads``; the building blocks in ``sim/``
import neither (``tests/test_layering.py`` checks it).
"""
