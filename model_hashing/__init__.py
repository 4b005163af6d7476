"""HNN-Net: perceptual hashes of neural networks from their ONNX graphs.

Not implemented yet: see the project's issue list.
"""
