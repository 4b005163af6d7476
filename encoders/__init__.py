"""Contrastive biometric encoders ("neural hashmaps") and their attacks.

Not implemented yet: see the project's issue list.
"""
