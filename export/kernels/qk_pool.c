/* Max / average pooling, windowed and global. */
#include "qk.h"
#include "qk_internal.h"

#define QK_T int8_t
#define QK_SUM_T int32_t
#define QK_MEAN qk__rounded_mean32
#define QK_T_MIN INT8_MIN
#define QK_T_MAX INT8_MAX
#define QK_MAXPOOL_FN qk_maxpool_s8
#define QK_AVGPOOL_FN qk_avgpool_s8
#define QK_GMAXPOOL_FN qk_global_maxpool_s8
#define QK_GAVGPOOL_FN qk_global_avgpool_s8
#include "qk_pool.inc"
#undef QK_T
#undef QK_SUM_T
#undef QK_MEAN
#undef QK_T_MIN
#undef QK_T_MAX
#undef QK_MAXPOOL_FN
#undef QK_AVGPOOL_FN
#undef QK_GMAXPOOL_FN
#undef QK_GAVGPOOL_FN

#define QK_T int16_t
#define QK_SUM_T int64_t
#define QK_MEAN qk__rounded_mean64
#define QK_T_MIN INT16_MIN
#define QK_T_MAX INT16_MAX
#define QK_MAXPOOL_FN qk_maxpool_s16
#define QK_AVGPOOL_FN qk_avgpool_s16
#define QK_GMAXPOOL_FN qk_global_maxpool_s16
#define QK_GAVGPOOL_FN qk_global_avgpool_s16
#include "qk_pool.inc"
#undef QK_T
#undef QK_SUM_T
#undef QK_MEAN
#undef QK_T_MIN
#undef QK_T_MAX
#undef QK_MAXPOOL_FN
#undef QK_AVGPOOL_FN
#undef QK_GMAXPOOL_FN
#undef QK_GAVGPOOL_FN
