/*
 * twophase: the single translation unit that builds twophase.fatbin for the JCuda backend.
 *
 * With whole-program compilation (-rdc=false) one fatbin holds the kernels of one
 * translation unit, so this file includes the kernel files with TP_KERNELS_ONLY defined
 * (device code only, no host wrappers). The kernels are the same source that
 * libtwophase_cuda.so is built from. Kernel list and parameter lists: kernels.cuh.
 */
#define TP_KERNELS_ONLY 1

#include "adam.cu"
#include "cg.cu"
#include "norms.cu"
#include "layers.cu"
#include "gemm.cu"
#include "conv.cu"
#include "attention.cu"
#include "layernorm.cu"
#include "data.cu"
