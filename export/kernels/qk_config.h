/*
 * Which code paths of the qk library a build links (C99). qk_dispatch.c reads these switches; a
 * switch that is 0 removes the code behind it from the link.
 *
 * This default file keeps everything: every model runs. `qat export` writes a file of its own
 * into each export's kernels/ with the paths that model's calls take in a QK_USE_DSP build on an
 * Armv7E-M core (qk_conv_s8_dsp_path, qk_linear_s8_dsp_path), so that its DSP image carries no
 * portable fallback and no optimized kernel it never calls. Builds without QK_USE_DSP (host, or
 * a core without the DSP extension) always use the portable kernels and ignore the switches.
 *
 * Editing an export's file by hand: a call whose path is switched off does nothing (its output
 * is left unwritten); regenerate the export instead.
 */
#ifndef QK_CONFIG_H
#define QK_CONFIG_H

/* int8 convolutions (qk_conv_s8, and the packed-weight qk_conv_s8_w4 / _w2) */
#define QK_CONFIG_CONV_S8_DSP_DEPTHWISE3 1 /* depthwise, k_w 3: planar rows */
#define QK_CONFIG_CONV_S8_DSP_DEPTHWISE 1  /* other depthwise: four channels per word */
#define QK_CONFIG_CONV_S8_DSP_GENERAL 1    /* im2col + SMLAD: general, grouped, 1x1 */
#define QK_CONFIG_CONV_S8_REFERENCE 1      /* calls the DSP kernels do not take */
/* int8 fully connected (qk_linear_s8, qk_linear_s8_w4 / _w2) */
#define QK_CONFIG_LINEAR_S8_DSP 1
#define QK_CONFIG_LINEAR_S8_REFERENCE 1
/* int16 convolutions and fully connected (qk_conv_s16, qk_linear_s16): the portable kernels for
 * calls the SMLALD kernels do not take (an input zero point other than 0) */
#define QK_CONFIG_CONV_S16_REFERENCE 1
#define QK_CONFIG_LINEAR_S16_REFERENCE 1
/* element-wise add (qk_add_s8, qk_add_s16): the saturating general loop, for parameters neither
 * the 32-bit nor the 64-bit loop takes (qk_add_s8_path / qk_add_s16_path) */
#define QK_CONFIG_ADD_SATURATING 1
/* ... and the 64-bit loop without saturation (affine parameters) */
#define QK_CONFIG_ADD_INT64 1

/* int8 requantization epilogues of the optimized kernels (qk_s8_epilogue_kind): a kind switched
 * off takes the generic path (the reference's helpers), exact but slower */
#define QK_CONFIG_EPI_POW2_RANGE 1
#define QK_CONFIG_EPI_POW2_S8 1
#define QK_CONFIG_EPI_POW2_U7 1
#define QK_CONFIG_EPI_AFFINE_RANGE 1
#define QK_CONFIG_EPI_AFFINE_S8 1
#define QK_CONFIG_EPI_AFFINE_U7 1
/* ... and the generic epilogue (the reference's 64-bit helpers), which the switched-off kinds
 * fall back to: switching it off too is only right when no call uses any other kind than the
 * enabled ones (an export's own file) */
#define QK_CONFIG_EPI_GENERIC 1

#endif
