"""Natural images for super-resolution benchmarks: offline data (bundled photographs, CIFAR-10) and metrics.

data     Bundled photographs and their patches, CIFAR-10 from a local copy, flip-augmented batches,
         pixel-range conversion.
metrics  PSNR, SSIM, Inception features, FID and KID.

scikit-image, scipy.linalg and the Inception network are imported only when used.
"""

from __future__ import annotations

from .data import (CIFAR10_FOLDER, PHOTOGRAPHS, RANGES, TEST_PHOTOGRAPHS, TRAIN_PHOTOGRAPHS, PatchBatches,
                   convert_range, extract_patches, flip_augment, load_cifar10, load_photograph, photo_patches)
from .metrics import (INCEPTION_DIM, INCEPTION_SHA1, INCEPTION_SIZE, fid, inception_features, inception_path, kid,
                      psnr, ssim)

__all__ = ["CIFAR10_FOLDER", "PHOTOGRAPHS", "RANGES", "TEST_PHOTOGRAPHS", "TRAIN_PHOTOGRAPHS", "PatchBatches",
           "convert_range", "extract_patches", "flip_augment", "load_cifar10", "load_photograph", "photo_patches",
           "INCEPTION_DIM", "INCEPTION_SHA1", "INCEPTION_SIZE", "fid", "inception_features", "inception_path", "kid",
           "psnr", "ssim"]
