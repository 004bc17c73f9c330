"""The transfer set: labeled text, unlabeled sources and Tang et al. (2019) augmentation, annotated by the teacher."""
