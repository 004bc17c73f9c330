"""Export: ONNX (fp32) and int8 files beside a saved model, with a parity check against PyTorch."""
