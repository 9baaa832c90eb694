"""Training-free patch engines beside the trained models: GPNN (patch nearest neighbours over a
pyramid) and GPDM (the patch distribution matched with a sliced Wasserstein distance).

    from singan.patch import sample
    outs = sample(image, 4, engine="gpnn", scale_w=1.5, seed=0)
"""

from .gpdm import GPDMSettings
from .gpnn import GPNNSettings
from .tasks import (
           ENGINES,
           analogy,
           check_engine,
           edit,
           inpaint,
           memory_needed,
           refine,
           sample,
           settings_for,
)

__all__ = ["ENGINES", "GPDMSettings", "GPNNSettings", "analogy", "check_engine", "edit",
           "inpaint", "memory_needed", "refine", "sample", "settings_for"]
