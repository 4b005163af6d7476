"""What :mod:`agents.algorithms` and :mod:`agents.hashes` both compute, so that a trained
policy and its hash are one function by construction: the word-scoring layers and the
pilot table. Imports nothing else from :mod:`agents`.
"""
