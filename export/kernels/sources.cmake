# The one list of the qk kernel library's files, included by the library's CMakeLists.txt, the
# embedding of the kernels into `qat` (every export ships QK_SHIPPED), and the ctest / emulator
# scripts. Adding a kernel source means adding it here.
set(QK_SOURCES
  qk_common.c
  qk_conv.c
  qk_linear.c
  qk_eltwise.c
  qk_pool.c
  qk_pack.c
  qk_dispatch.c
  qk_fused.c
  qk_conv_s8_dsp.c
  qk_dw_s8_dsp.c
  qk_dw3_s8_dsp.c
  qk_linear_s8_dsp.c
  qk_conv_s16_dsp.c)
set(QK_HEADERS
  qk.h
  qk_config.h
  qk_internal.h
  qk_dsp.h
  qk_conv.inc
  qk_linear.inc
  qk_pool.inc)
set(QK_SHIPPED ${QK_SOURCES} ${QK_HEADERS} README.md)
