"""Tuning: a budgeted search over a policy's parameters on the simulator.

The one home of tuning; ``scaler tune`` (:mod:`scaler.commands.tune`) and the
dashboard's "tune for me" (:mod:`scaler.dashboard.whatif`) both call it.
:mod:`scaler.tuning.space` turns a policy's pydantic parameters into search
dimensions; :mod:`scaler.tuning.search` runs the seeded search through the same
simulator engine as ``scaler simulate``; :mod:`scaler.tuning.run` is the public
face (:func:`~scaler.tuning.run.tune`); :mod:`scaler.tuning.compare` is the
dashboard's search-then-compare.
"""
