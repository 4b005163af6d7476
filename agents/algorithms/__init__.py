"""Training algorithms (SB3 subclasses and the project's own), their callbacks and the
adapter from the native vector envs to SB3. Imports :mod:`agents.common`, never
:mod:`agents.hashes` or :mod:`agents.runs`.
"""
