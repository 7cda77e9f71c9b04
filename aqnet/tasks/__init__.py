"""Tasks: the kinds of experiment aqnet runs, one package each (the interface: :mod:`aqnet.tasks.base`).

Light on purpose: every CLI call imports each task package to register its config schema.
"""
