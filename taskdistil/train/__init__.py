"""The one training loop (``loop``), its batching (``batching``) and its evaluation protocol.

Import from the modules: ``batching`` is PyTorch-free so inference can run without it."""
