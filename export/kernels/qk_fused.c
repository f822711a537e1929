/* Fused execution: a block of layers computed tile by tile (qk.h, "Fused execution").
 *
 * One walk serves both qk_fused_run (on the target and in the host engine) and qk_fused_plan
 * (the exporter sizes windows and staging with it and checks in-place placements against its
 * access trace), so the geometry that sized the buffers is the geometry that runs.
 *
 * Per tile of the block output, the walk
 *   1. propagates the region each tensor must hold back from the tile (a conv / pool needs its
 *      window's rows and columns, clamped to the tensor; an element-wise layer the same region);
 *   2. in retaining blocks, keeps the part of each window the tile still needs (moved to the
 *      front of its buffer) so that only new rows are computed;
 *   3. runs the layers in order on what is missing, each as ordinary qk kernel calls whose
 *      parameters describe the sub-tensors (the window's rows, the padding the region still
 *      has, the output rows of the tile), so every output element is computed by the same
 *      kernel code, on the same input values, as in layer-by-layer execution. */
#include <string.h>

#include "qk.h"
#include "qk_internal.h"

typedef struct {
  int32_t y0, y1, x0, x1; /* rows [y0, y1), columns [x0, x1); empty when either is empty */
} qk__rect;

/* Kernel geometry of a layer along h and w; element-wise layers are 1x1, stride 1, no pad. */
typedef struct {
  int32_t kh, kw, sh, sw, ph, pw;
} qk__geom;

typedef struct {
  const qk_fused_block* b;
  void* const* data;      /* NULL: plan only (no kernels, no data) */
  qk__rect* have;         /* per tensor: the region its window holds */
  qk__rect* need;         /* per tensor: the region the current tile needs */
  uint8_t* stage;         /* staging buffer (run) */
  int32_t stage_capacity; /* run: bytes available for staging */
  void* scratch;
  qk_fused_stats* st;      /* plan: statistics */
  qk_fused_trace_fn trace; /* plan: accesses to whole tensors */
  void* ctx;
} qk__walk;

static int qk__empty(const qk__rect* r) {
  return r->y0 >= r->y1 || r->x0 >= r->x1;
}

static void qk__union(qk__rect* a, const qk__rect* b) {
  if (qk__empty(b)) return;
  if (qk__empty(a)) {
    *a = *b;
    return;
  }
  if (b->y0 < a->y0) a->y0 = b->y0;
  if (b->y1 > a->y1) a->y1 = b->y1;
  if (b->x0 < a->x0) a->x0 = b->x0;
  if (b->x1 > a->x1) a->x1 = b->x1;
}

static int qk__contains(const qk__rect* outer, const qk__rect* inner) {
  return qk__empty(inner) || (outer->y0 <= inner->y0 && inner->y1 <= outer->y1 &&
                              outer->x0 <= inner->x0 && inner->x1 <= outer->x1);
}

static int32_t qk__clamp32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

static int qk__is_conv(int32_t kind) {
  return kind == QK_FUSED_CONV_S8 || kind == QK_FUSED_CONV_S8_PACKED || kind == QK_FUSED_CONV_S16 ||
         kind == QK_FUSED_CONV_S16_W8;
}

static int qk__is_pool(int32_t kind) {
  return kind == QK_FUSED_POOL_S8 || kind == QK_FUSED_POOL_S16;
}

static int qk__is_global(int32_t kind) {
  return kind >= QK_FUSED_GAVGPOOL_S8 && kind <= QK_FUSED_GMAXPOOL_S16;
}

/* The layer a block ends in when it is a global pool (the block is then tiled over its input
 * and reduces across tiles), else NULL. */
static const qk_fused_layer* qk__reduction(const qk_fused_block* b) {
  const qk_fused_layer* l = &b->layers[b->n_layers - 1];
  return qk__is_global(l->kind) ? l : NULL;
}

static qk__geom qk__geom_of(const qk_fused_layer* l) {
  qk__geom g = {1, 1, 1, 1, 0, 0};
  if (qk__is_conv(l->kind)) {
    const qk_conv_params* p = (const qk_conv_params*)l->params;
    g.kh = p->k_h;
    g.kw = p->k_w;
    g.sh = p->stride_h;
    g.sw = p->stride_w;
    g.ph = p->pad_h;
    g.pw = p->pad_w;
  } else if (qk__is_pool(l->kind)) {
    const qk_pool_params* p = (const qk_pool_params*)l->params;
    g.kh = p->k_h;
    g.kw = p->k_w;
    g.sh = p->stride_h;
    g.sw = p->stride_w;
    g.ph = p->pad_h;
    g.pw = p->pad_w;
  }
  return g;
}

/* The input region a layer reads for output region `out`, clamped to the input tensor (a
 * window entirely in the padding gives an empty range positioned where it would start). */
static qk__rect qk__input_rect(const qk__geom* g, const qk__rect* out, const qk_fused_tensor* in) {
  qk__rect r;
  r.y0 = qk__clamp32(out->y0 * g->sh - g->ph, 0, in->h);
  r.y1 = qk__clamp32((out->y1 - 1) * g->sh - g->ph + g->kh, r.y0, in->h);
  r.x0 = qk__clamp32(out->x0 * g->sw - g->pw, 0, in->w);
  r.x1 = qk__clamp32((out->x1 - 1) * g->sw - g->pw + g->kw, r.x0, in->w);
  return r;
}

static int64_t qk__rect_elements(const qk__rect* r, int32_t c) {
  return qk__empty(r) ? 0 : (int64_t)(r->y1 - r->y0) * (r->x1 - r->x0) * c;
}

/* The region tensor t is stored as: the whole tensor, or what its window holds. */
static qk__rect qk__storage(const qk__walk* w, int32_t t) {
  const qk_fused_tensor* T = &w->b->tensors[t];
  if (T->storage == QK_FUSED_WHOLE) {
    qk__rect r;
    r.y0 = 0;
    r.y1 = T->h;
    r.x0 = 0;
    r.x1 = T->w;
    return r;
  }
  return w->have[t];
}

/* Byte offset of element (y, x, 0) of tensor t inside its storage region s. */
static int64_t qk__offset(const qk__walk* w, int32_t t, const qk__rect* s, int32_t y, int32_t x) {
  const qk_fused_tensor* T = &w->b->tensors[t];
  return ((int64_t)(y - s->y0) * (s->x1 - s->x0) + (x - s->x0)) * T->c * T->elem_bytes;
}

static uint8_t* qk__at(const qk__walk* w, int32_t t, const qk__rect* s, int32_t y, int32_t x) {
  return (uint8_t*)w->data[t] + qk__offset(w, t, s, y, x);
}

/* Reports the bytes of region r of a whole tensor (first to last byte, a superset when r is
 * narrower than the tensor). */
static void qk__trace(const qk__walk* w, int32_t t, int32_t write, const qk__rect* r,
                      int32_t elementwise) {
  qk__rect s;
  if (!w->trace || qk__empty(r) || w->b->tensors[t].storage != QK_FUSED_WHOLE) return;
  s = qk__storage(w, t);
  w->trace(w->ctx, w->st ? w->st->kernel_calls : 0, t, write, qk__offset(w, t, &s, r->y0, r->x0),
           qk__offset(w, t, &s, r->y1 - 1, r->x1), elementwise);
}

/* One conv / pool call computing output rows chunk (inside region `todo` columns). */
static int32_t qk__run_window_layer(qk__walk* w, const qk_fused_layer* l, const qk__rect* chunk) {
  const qk_fused_tensor* Tin = &w->b->tensors[l->in0];
  const qk_fused_tensor* Tout = &w->b->tensors[l->out];
  const qk__geom g = qk__geom_of(l);
  const qk__rect r = qk__input_rect(&g, chunk, Tin);
  const qk__rect s_in = qk__storage(w, l->in0);
  const qk__rect s_out = Tout->storage == QK_FUSED_WHOLE ? qk__storage(w, l->out) : w->need[l->out];
  const int32_t pad_h = r.y0 - (chunk->y0 * g.sh - g.ph);
  const int32_t pad_w = r.x0 - (chunk->x0 * g.sw - g.pw);
  const int staged = !qk__empty(&r) && r.x0 != s_in.x0;
  const int32_t in_w = staged ? r.x1 - r.x0 : s_in.x1 - s_in.x0;
  const uint8_t* in = NULL;
  uint8_t* out = NULL;
  if (!qk__contains(&s_in, &r)) return QK_FUSED_E_REGION;
  if (staged) {
    const int64_t row_bytes = (int64_t)(r.x1 - r.x0) * Tin->c * Tin->elem_bytes;
    const int64_t bytes = row_bytes * (r.y1 - r.y0);
    if (w->st) {
      w->st->staged_bytes += bytes;
      if (bytes > w->st->stage_bytes) w->st->stage_bytes = (int32_t)bytes;
    }
    if (w->data) {
      int32_t y;
      if (bytes > w->stage_capacity) return QK_FUSED_E_CAPACITY;
      for (y = r.y0; y < r.y1; ++y)
        memcpy(w->stage + (y - r.y0) * row_bytes, qk__at(w, l->in0, &s_in, y, r.x0),
               (size_t)row_bytes);
      in = w->stage;
    }
  } else if (w->data) {
    in = qk__at(w, l->in0, &s_in, qk__empty(&r) ? s_in.y0 : r.y0, s_in.x0);
  }
  if (w->st) {
    ++w->st->kernel_calls;
    ++w->st->layer_calls[l - w->b->layers];
  }
  qk__trace(w, l->in0, 0, &r, 0);
  qk__trace(w, l->out, 1, chunk, 0);
  if (w->st) {
    if (qk__is_conv(l->kind)) {
      const qk_conv_params* p = (const qk_conv_params*)l->params;
      const int32_t groups = p->groups > 0 ? p->groups : 1;
      w->st->macs += qk__rect_elements(chunk, p->out_c) * p->k_h * p->k_w * (p->in_c / groups);
    }
  }
  if (!w->data) return QK_FUSED_OK;
  out = qk__at(w, l->out, &s_out, chunk->y0, chunk->x0);
  if (qk__is_conv(l->kind)) {
    qk_conv_params p = *(const qk_conv_params*)l->params;
    p.in_h = r.y1 - r.y0;
    p.in_w = in_w;
    p.pad_h = pad_h;
    p.pad_w = pad_w;
    p.out_h = chunk->y1 - chunk->y0;
    p.out_w = chunk->x1 - chunk->x0;
    switch (l->kind) {
      case QK_FUSED_CONV_S8:
        l->fn.conv_s8(&p, (const int8_t*)in, (const int8_t*)l->weights, l->bias, l->rq,
                      (int8_t*)out, w->scratch);
        break;
      case QK_FUSED_CONV_S8_PACKED:
        l->fn.conv_s8_packed(&p, (const int8_t*)in, (const uint8_t*)l->weights, l->bias, l->rq,
                             (int8_t*)out, w->scratch);
        break;
      case QK_FUSED_CONV_S16:
        l->fn.conv_s16(&p, (const int16_t*)in, (const int16_t*)l->weights, l->bias, l->rq,
                       (int16_t*)out, w->scratch);
        break;
      default:
        l->fn.conv_s16_w8(&p, (const int16_t*)in, (const int8_t*)l->weights, l->bias, l->rq,
                          (int16_t*)out, w->scratch);
        break;
    }
  } else {
    qk_pool_params p = *(const qk_pool_params*)l->params;
    p.in_h = r.y1 - r.y0;
    p.in_w = in_w;
    p.pad_h = pad_h;
    p.pad_w = pad_w;
    p.out_h = chunk->y1 - chunk->y0;
    p.out_w = chunk->x1 - chunk->x0;
    if (l->kind == QK_FUSED_POOL_S8)
      l->fn.pool_s8(&p, (const int8_t*)in, (int8_t*)out);
    else
      l->fn.pool_s16(&p, (const int16_t*)in, (int16_t*)out);
  }
  return QK_FUSED_OK;
}

/* One element-wise call over `chunk` (contiguous in every tensor it touches). */
static int32_t qk__run_elementwise(qk__walk* w, const qk_fused_layer* l, const qk__rect* chunk) {
  const qk__rect s_a = qk__storage(w, l->in0);
  const qk__rect s_o =
      w->b->tensors[l->out].storage == QK_FUSED_WHOLE ? qk__storage(w, l->out) : w->need[l->out];
  const int32_t size = (int32_t)qk__rect_elements(chunk, w->b->tensors[l->out].c);
  if (!qk__contains(&s_a, chunk)) return QK_FUSED_E_REGION;
  if (w->st) {
    ++w->st->kernel_calls;
    ++w->st->layer_calls[l - w->b->layers];
  }
  qk__trace(w, l->in0, 0, chunk, 1);
  if (l->in1 >= 0) {
    const qk__rect s_b = qk__storage(w, l->in1);
    if (!qk__contains(&s_b, chunk)) return QK_FUSED_E_REGION;
    qk__trace(w, l->in1, 0, chunk, 1);
  }
  qk__trace(w, l->out, 1, chunk, 1);
  if (!w->data) return QK_FUSED_OK;
  {
    const uint8_t* a = qk__at(w, l->in0, &s_a, chunk->y0, chunk->x0);
    uint8_t* o = qk__at(w, l->out, &s_o, chunk->y0, chunk->x0);
    if (l->kind == QK_FUSED_ADD_S8 || l->kind == QK_FUSED_ADD_S16) {
      const qk__rect s_b = qk__storage(w, l->in1);
      const uint8_t* bb = qk__at(w, l->in1, &s_b, chunk->y0, chunk->x0);
      qk_add_params p = *(const qk_add_params*)l->params;
      p.size = size;
      if (l->kind == QK_FUSED_ADD_S8)
        l->fn.add_s8(&p, (const int8_t*)a, (const int8_t*)bb, (int8_t*)o);
      else
        l->fn.add_s16(&p, (const int16_t*)a, (const int16_t*)bb, (int16_t*)o);
    } else if (l->kind == QK_FUSED_CLAMP_S8 || l->kind == QK_FUSED_CLAMP_S16) {
      const qk_fused_clamp_params* p = (const qk_fused_clamp_params*)l->params;
      if (l->kind == QK_FUSED_CLAMP_S8)
        l->fn.clamp_s8(size, p->lo, p->hi, (const int8_t*)a, (int8_t*)o);
      else
        l->fn.clamp_s16(size, p->lo, p->hi, (const int16_t*)a, (int16_t*)o);
    } else if (l->kind == QK_FUSED_CAST_S8_S16) {
      l->fn.cast_s8_s16(size, (const int8_t*)a, (int16_t*)o);
    } else {
      l->fn.cast_s16_s8(size, (const int16_t*)a, (int8_t*)o);
    }
  }
  return QK_FUSED_OK;
}

/* True when rows [y0, y1) x columns `cols` of region s are one contiguous run of memory. */
static int qk__contiguous(const qk__rect* s, const qk__rect* cols, int32_t rows) {
  return rows <= 1 || (cols->x0 == s->x0 && cols->x1 == s->x1);
}

/* Computes region `todo` of layer l's output: one call when the region is contiguous in every
 * tensor the call addresses, else one call per row. */
static int32_t qk__run_layer(qk__walk* w, const qk_fused_layer* l, const qk__rect* todo) {
  const int elementwise = !qk__is_conv(l->kind) && !qk__is_pool(l->kind);
  const qk__rect s_o =
      w->b->tensors[l->out].storage == QK_FUSED_WHOLE ? qk__storage(w, l->out) : w->need[l->out];
  const int32_t rows = todo->y1 - todo->y0;
  int one_call = qk__contiguous(&s_o, todo, rows);
  if (elementwise) {
    const qk__rect s_a = qk__storage(w, l->in0);
    one_call = one_call && qk__contiguous(&s_a, todo, rows);
    if (l->in1 >= 0) {
      const qk__rect s_b = qk__storage(w, l->in1);
      one_call = one_call && qk__contiguous(&s_b, todo, rows);
    }
  }
  if (one_call)
    return elementwise ? qk__run_elementwise(w, l, todo) : qk__run_window_layer(w, l, todo);
  {
    int32_t y;
    for (y = todo->y0; y < todo->y1; ++y) {
      qk__rect row = *todo;
      int32_t e;
      row.y0 = y;
      row.y1 = y + 1;
      e = elementwise ? qk__run_elementwise(w, l, &row) : qk__run_window_layer(w, l, &row);
      if (e != QK_FUSED_OK) return e;
    }
  }
  return QK_FUSED_OK;
}

/* Retaining blocks: keeps the part of window t the tile still needs, moved to the front of its
 * buffer (rows; columns in a 1D block); anything else is dropped. */
static void qk__retain(qk__walk* w, int32_t t, int32_t axis) {
  const qk_fused_tensor* T = &w->b->tensors[t];
  qk__rect* h = &w->have[t];
  const qk__rect* n = &w->need[t];
  qk__rect keep = *h;
  if (qk__empty(h) || qk__empty(n)) {
    h->y1 = h->y0;
    return;
  }
  if (axis == 0) {
    if (h->x0 != n->x0 || h->x1 != n->x1 || h->y0 > n->y0 || h->y1 <= n->y0) {
      h->y1 = h->y0;
      return;
    }
    keep.y0 = n->y0;
    if (keep.y1 > n->y1) keep.y1 = n->y1;
  } else {
    if (h->y0 != n->y0 || h->y1 != n->y1 || h->x0 > n->x0 || h->x1 <= n->x0) {
      h->y1 = h->y0;
      return;
    }
    keep.x0 = n->x0;
    if (keep.x1 > n->x1) keep.x1 = n->x1;
  }
  if (keep.y0 != h->y0 || keep.x0 != h->x0) {
    const int64_t bytes = qk__rect_elements(&keep, T->c) * T->elem_bytes;
    if (w->st) w->st->moved_bytes += bytes;
    if (w->data) memmove(w->data[t], qk__at(w, t, h, keep.y0, keep.x0), (size_t)bytes);
  }
  *h = keep;
}

/* The region of the new part of window t (what `need` has beyond `have`), or all of `need`. */
static qk__rect qk__todo(const qk__walk* w, int32_t t, int32_t axis) {
  qk__rect todo = w->need[t];
  const qk__rect* h = &w->have[t];
  if (w->b->tensors[t].storage == QK_FUSED_WHOLE || qk__empty(h)) return todo;
  if (axis == 0)
    todo.y0 = h->y1;
  else
    todo.x0 = h->x1;
  return todo;
}

size_t qk_fused_state_size(const qk_fused_block* b) {
  size_t bytes = (size_t)b->n_tensors * 2 * sizeof(qk__rect);
  if (b->n_layers > 0 && b->output >= 0 && b->output < b->n_tensors && qk__reduction(b))
    bytes += (size_t)b->tensors[b->output].c * sizeof(int64_t);
  return bytes;
}

/* A block the walk can run: indices in range, every layer writing a window or the output
 * (each exactly once) and reading whole tensors or windows written by earlier layers. */
static int qk__valid(const qk_fused_block* b) {
  int32_t li, lj;
  if (b->n_tensors <= 0 || b->n_layers <= 0 || b->n_layers > QK_FUSED_MAX_TENSORS ||
      b->output < 0 || b->output >= b->n_tensors || b->tensors[b->output].storage != QK_FUSED_WHOLE)
    return 0;
  for (li = 0; li < b->n_layers; ++li) {
    const qk_fused_layer* l = &b->layers[li];
    const int32_t ins[2] = {l->in0, l->in1};
    int32_t k;
    if (l->kind < QK_FUSED_CONV_S8 || l->kind > QK_FUSED_GMAXPOOL_S16) return 0;
    /* A global pool ends the block, writes its [1][1][c] output and reads a window of c
     * channels that no other layer reads. */
    if (qk__is_global(l->kind)) {
      if (li != b->n_layers - 1 || l->out != b->output || l->in1 >= 0 || l->in0 < 0 ||
          l->in0 >= b->n_tensors || b->tensors[l->in0].storage != QK_FUSED_WINDOW ||
          b->tensors[l->out].h != 1 || b->tensors[l->out].w != 1 ||
          b->tensors[l->out].c != b->tensors[l->in0].c ||
          b->tensors[l->out].elem_bytes != b->tensors[l->in0].elem_bytes)
        return 0;
      for (lj = 0; lj < li; ++lj)
        if (b->layers[lj].in0 == l->in0 || b->layers[lj].in1 == l->in0) return 0;
    }
    if (l->out < 0 || l->out >= b->n_tensors || l->in0 < 0 || l->in0 >= b->n_tensors ||
        l->in1 >= b->n_tensors)
      return 0;
    if ((l->kind == QK_FUSED_ADD_S8 || l->kind == QK_FUSED_ADD_S16) != (l->in1 >= 0)) return 0;
    if (l->out != b->output && b->tensors[l->out].storage != QK_FUSED_WINDOW) return 0;
    for (lj = 0; lj < li; ++lj)
      if (b->layers[lj].out == l->out) return 0;
    for (k = 0; k < 2; ++k) {
      int32_t produced = 0;
      if (ins[k] < 0 || b->tensors[ins[k]].storage == QK_FUSED_WHOLE) {
        if (ins[k] == b->output) return 0;
        continue;
      }
      for (lj = 0; lj < li; ++lj) produced = produced || b->layers[lj].out == ins[k];
      if (!produced) return 0;
    }
  }
  return 1;
}

/* Adds region r of the window a global pool reads (each element of its input once over the
 * tiles) into the per-channel accumulators: sums, or maxima. */
static void qk__accumulate(qk__walk* w, const qk_fused_layer* l, const qk__rect* r, int64_t* acc) {
  const qk_fused_tensor* T = &w->b->tensors[l->in0];
  const qk__rect s = qk__storage(w, l->in0);
  const int is_max = l->kind == QK_FUSED_GMAXPOOL_S8 || l->kind == QK_FUSED_GMAXPOOL_S16;
  int32_t y, x, c;
  if (qk__empty(r)) return;
  if (w->st) {
    ++w->st->kernel_calls;
    ++w->st->layer_calls[l - w->b->layers];
  }
  if (!w->data) return;
  for (y = r->y0; y < r->y1; ++y)
    for (x = r->x0; x < r->x1; ++x) {
      const uint8_t* p = qk__at(w, l->in0, &s, y, x);
      for (c = 0; c < T->c; ++c) {
        const int64_t v =
            T->elem_bytes == 1 ? (int64_t)((const int8_t*)p)[c] : (int64_t)((const int16_t*)p)[c];
        if (!is_max)
          acc[c] += v;
        else if (v > acc[c])
          acc[c] = v;
      }
    }
}

/* The global pool's output from its accumulators, as qk_global_avgpool / maxpool compute it
 * (the int8 kernel sums in int32: the exporter keeps those sums in range). */
static void qk__reduce_out(qk__walk* w, const qk_fused_layer* l, int32_t spatial,
                           const int64_t* acc) {
  const qk_fused_tensor* T = &w->b->tensors[l->out];
  const qk__rect all = {0, 1, 0, 1};
  int32_t c;
  qk__trace(w, l->out, 1, &all, 0);
  if (!w->data) return;
  for (c = 0; c < T->c; ++c) {
    int64_t v = acc[c];
    if (spatial <= 0)
      v = 0;
    else if (l->kind == QK_FUSED_GAVGPOOL_S8)
      v = qk__rounded_mean32((int32_t)v, spatial);
    else if (l->kind == QK_FUSED_GAVGPOOL_S16)
      v = qk__rounded_mean64(v, spatial);
    if (T->elem_bytes == 1)
      ((int8_t*)w->data[l->out])[c] = (int8_t)v;
    else
      ((int16_t*)w->data[l->out])[c] = (int16_t)v;
  }
}

static int32_t qk__walk_block(qk__walk* w) {
  const qk_fused_block* b = w->b;
  const qk_fused_tensor* O;
  int32_t t, li, ty, tx, axis = 1, th, tw;
  const qk_fused_layer* red;
  int32_t tile_t;
  int64_t* acc = NULL;
  if (!qk__valid(b)) return QK_FUSED_E_BLOCK;
  red = qk__reduction(b);
  /* The tensor the tiles cover: the block output, or the input a global pool reduces. */
  tile_t = red ? red->in0 : b->output;
  O = &b->tensors[tile_t];
  if (red) {
    acc = (int64_t*)(w->need + b->n_tensors);
    if (w->data) {
      const int64_t init = red->kind == QK_FUSED_GMAXPOOL_S8    ? -128
                           : red->kind == QK_FUSED_GMAXPOOL_S16 ? -32768
                                                                : 0;
      for (t = 0; t < O->c; ++t) acc[t] = init;
    }
  }
  for (t = 0; t < b->n_tensors; ++t)
    if (b->tensors[t].h != 1) axis = 0;
  th = qk__clamp32(b->tile_h, 1, O->h);
  tw = qk__clamp32(b->tile_w, 1, O->w);
  if (b->retain && axis == 0 && tw < O->w) return QK_FUSED_E_BLOCK;
  for (t = 0; t < b->n_tensors; ++t)
    w->have[t].y0 = w->have[t].y1 = w->have[t].x0 = w->have[t].x1 = 0;
  for (ty = 0; ty < O->h; ty += th) {
    for (tx = 0; tx < O->w; tx += tw) {
      for (t = 0; t < b->n_tensors; ++t)
        w->need[t].y0 = w->need[t].y1 = w->need[t].x0 = w->need[t].x1 = 0;
      w->need[tile_t].y0 = ty;
      w->need[tile_t].y1 = ty + th < O->h ? ty + th : O->h;
      w->need[tile_t].x0 = tx;
      w->need[tile_t].x1 = tx + tw < O->w ? tx + tw : O->w;
      for (li = b->n_layers - (red ? 2 : 1); li >= 0; --li) {
        const qk_fused_layer* l = &b->layers[li];
        const qk__geom g = qk__geom_of(l);
        qk__rect r;
        if (qk__empty(&w->need[l->out])) continue;
        r = qk__input_rect(&g, &w->need[l->out], &b->tensors[l->in0]);
        qk__union(&w->need[l->in0], &r);
        if (l->in1 >= 0) qk__union(&w->need[l->in1], &w->need[l->out]);
      }
      for (t = 0; t < b->n_tensors; ++t) {
        const qk_fused_tensor* T = &b->tensors[t];
        int64_t bytes;
        if (T->storage != QK_FUSED_WINDOW) continue;
        if (b->retain)
          qk__retain(w, t, axis);
        else
          w->have[t].y1 = w->have[t].y0;
        bytes = qk__rect_elements(&w->need[t], T->c) * T->elem_bytes;
        if (w->st && bytes > w->st->window_bytes[t]) w->st->window_bytes[t] = (int32_t)bytes;
        if (w->data && bytes > T->capacity) return QK_FUSED_E_CAPACITY;
      }
      for (li = 0; li < b->n_layers; ++li) {
        const qk_fused_layer* l = &b->layers[li];
        const qk__rect todo = qk__todo(w, l->out, axis);
        int32_t e;
        if (l == red) {
          qk__accumulate(w, red, &w->need[tile_t], acc);
          continue;
        }
        if (qk__empty(&todo)) continue;
        e = qk__run_layer(w, l, &todo);
        if (e != QK_FUSED_OK) return e;
        if (b->tensors[l->out].storage == QK_FUSED_WINDOW) w->have[l->out] = w->need[l->out];
      }
    }
  }
  if (red) qk__reduce_out(w, red, O->h * O->w, acc);
  return QK_FUSED_OK;
}

int32_t qk_fused_run(const qk_fused_block* b, void* const* data, void* work, void* scratch) {
  qk__walk w;
  const size_t state = qk_fused_state_size(b);
  if (b->work_bytes < (int32_t)state) return QK_FUSED_E_CAPACITY;
  w.b = b;
  w.data = data;
  w.have = (qk__rect*)work;
  w.need = w.have + b->n_tensors;
  w.stage = (uint8_t*)work + state;
  w.stage_capacity = b->work_bytes - (int32_t)state;
  w.scratch = scratch;
  w.st = NULL;
  w.trace = NULL;
  w.ctx = NULL;
  return qk__walk_block(&w);
}

int32_t qk_fused_plan(const qk_fused_block* b, void* state, qk_fused_stats* stats,
                      qk_fused_trace_fn trace, void* ctx) {
  qk__walk w;
  int32_t t;
  memset(stats, 0, sizeof *stats);
  if (b->n_tensors > QK_FUSED_MAX_TENSORS) return stats->error = QK_FUSED_E_BLOCK;
  w.b = b;
  w.data = NULL;
  w.have = (qk__rect*)state;
  w.need = w.have + b->n_tensors;
  w.stage = NULL;
  w.stage_capacity = 0;
  w.scratch = NULL;
  w.st = stats;
  w.trace = trace;
  w.ctx = ctx;
  stats->error = qk__walk_block(&w);
  for (t = 0; t < b->n_tensors; ++t)
    if (b->tensors[t].storage != QK_FUSED_WINDOW) stats->window_bytes[t] = 0;
  return stats->error;
}
