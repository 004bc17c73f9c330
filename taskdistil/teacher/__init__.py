"""Teacher: fine-tune any HF encoder, annotate transfer sets with its logits."""
