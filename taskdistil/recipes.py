"""Named student recipes: a student's ``recipe:`` fills in a paper's settings under the keys it sets itself.

Explicit keys win; ``loss`` and ``train`` merge key by key (``recipe: tang`` with ``train: {epochs: 3}`` keeps
Tang's optimizer), a given ``stages`` list replaces the recipe's. Adapted to this repo's students:

=============  ==============================================================================================
recipe         settings
=============  ==============================================================================================
tang           Tang et al. 2019: kind bilstm, 300-d multichannel embeddings (a frozen and a tuned copy; the
               paper's word2vec becomes the SVD-reduced teacher table unless ``embeddings`` says otherwise),
               150 units per direction, last states, 200 ReLU units; logit MSE with hard_weight 0 (the
               reported model); AdaDelta lr 1.0 (rho 0.95), batch 50, constant rate.
pkd-skip       Sun et al. 2019, SST-2 settings: kind transformer, 3 layers copied from the teacher's first 3,
               PKD-Skip layer map (6-layer teacher: student layers 1, 2 learn teacher layers 2, 4); soft KL at
               T 10, hard_weight 0.5 (a = 0.5), pkd_weight 100 (b); lr 5e-5, batch 32, 4 epochs.
pkd-last       as pkd-skip with the PKD-Last layer map (6-layer teacher: layers 4, 5).
xtremedistil   Mukherjee & Hassan Awadallah 2020: kind bilstm over the teacher's WordPiece embeddings reduced
               by SVD to 300 dims, 2 x 600 units, dropout 0.2; Adam lr 1e-3, batch 512, cosine schedule;
               stages representation (gradual unfreezing; teacher_layer unset = ceil(7/12 of the teacher's
               depth): the paper's best l = 7 of 12, layer 4 of the 6-layer MiniLM) -> logits (MSE) ->
               hard_labels (gold labels).
hard           XtremeDistil's hard distillation: kind bilstm trained on the teacher's argmax labels only (one
               hard_distill stage).
=============  ==============================================================================================

Plain data (no imports from the config module): ``config.StudentConfig`` applies it before validation.
"""

from __future__ import annotations

from typing import Any

_PKD = {"kind": "transformer", "layers": 3, "init_layers": "first",
        "loss": {"soft": "kl", "temperature": 10.0, "hard_weight": 0.5, "pkd_weight": 100.0},
        "train": {"learning_rate": 5e-5, "batch_size": 32, "epochs": 4}}

RECIPES: dict[str, dict[str, Any]] = {
    "tang": {
        "kind": "bilstm", "embedding_dim": 300, "embedding_mode": "multichannel", "hidden_size": 150,
        "num_layers": 1, "fc_dim": 200, "pooling": "last",
        "loss": {"soft": "mse", "hard_weight": 0.0},
        "train": {"optimizer": "adadelta", "learning_rate": 1.0, "batch_size": 50, "scheduler": "constant"},
    },
    "pkd-skip": {**_PKD, "layer_map": "skip"},
    "pkd-last": {**_PKD, "layer_map": "last"},
    "xtremedistil": {
        "kind": "bilstm", "tokenizer": "wordpiece", "embeddings": "svd", "embedding_dim": 300, "hidden_size": 600,
        "dropout": 0.2,
        "loss": {"soft": "mse", "hard_weight": 0.0},
        "train": {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 512, "scheduler": "cosine"},
        "stages": [{"objective": "representation", "unfreeze": "gradual"}, {"objective": "logits"},
                   {"objective": "hard_labels"}],
    },
    "hard": {"kind": "bilstm", "stages": [{"objective": "hard_distill"}]},
}

MERGED_SECTIONS = ("loss", "train")


def apply_recipe(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` (a student's raw keys) over its recipe's; unknown or no recipe: unchanged."""
    recipe = RECIPES.get(settings.get("recipe")) if isinstance(settings.get("recipe"), str) else None
    if recipe is None:
        return settings
    out = {**recipe, **settings}
    for section in MERGED_SECTIONS:
        if isinstance(recipe.get(section), dict) and isinstance(settings.get(section), dict):
            out[section] = {**recipe[section], **settings[section]}
    if "stages" in recipe and "stages" not in settings:
        out["stages"] = [dict(stage) for stage in recipe["stages"]]
    return out
