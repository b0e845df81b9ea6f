"""fluorodn_train: synthetic data, DnCNN training and ONNX export for fluorodn."""

__version__ = "0.1.0"
