"""Students: each kind is one self-contained file with its own config dataclass; ``registry``
maps kind names to classes. (Kept import-free: tokenizers load without PyTorch.)"""
