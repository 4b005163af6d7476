"""RL agents for the hash environments (policy gradient, A2C, discrete SAC) and the
deterministic argmax wrapper that turns a trained stateless policy into a hash function.

Not implemented yet: see the project's issue list.
"""
