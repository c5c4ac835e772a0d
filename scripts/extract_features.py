"""Extract ResNet50 features of CIFAR-10/100 once and cache them (paper, Section IV-E).

    python scripts/extract_features.py --dataset=cifar10 --cache_dir=results/cifar10/cache

Expected time for 60,000 images at 224x224: about 2-4 minutes on a modern
GPU, many hours on a 2-core CPU (use --image_size=32 there for a quick,
much weaker run).
"""

import _common
from absl import flags

from aesampling import experiments

_common.define_data_flags()
flags.mark_flag_as_required("cache_dir")
FLAGS = flags.FLAGS


def main():
    path = experiments.run_extract_features(experiments.ExtractConfig(data=_common.data_config()))
    print(f"features cached in {path}")


if __name__ == "__main__":
    _common.run(main)
