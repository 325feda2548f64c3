// L2 normalization of rows (F.normalize, eps 1e-12) and its backward pass, as assembly/normalize.ts.
// Long float32 sums are two-level (a short inner sum flushed into an outer one), which keeps the
// rounding error near √n·ε without relying on compensated arithmetic that compilers may fold.

import { defineKernel, perItem } from './kernel.js';

/**
 * L2 normalization of `rows` rows of C values in place; norms[r] = ‖v_r‖. The norm is taken of
 * v/max|v| and scaled back, so that float32 squares neither underflow (tiny vectors keep the right
 * branch) nor overflow.
 */
export const NORMALIZE = defineKernel({
  label: 'normalize',
  params: { rows: 'u32', c: 'u32' },
  bindings: { m: ['read_write', 'f32'], norms: ['read_write', 'f32'] },
  body: perItem(
    'r',
    'P.rows',
    /* wgsl */ `
  let base = r * P.c;
  var mx = 0.0;
  for (var k = 0u; k < P.c; k++) { mx = max(mx, abs(m[base + k])); }
  var norm = 0.0;
  if (mx > 0.0) {
    var inner = 0.0;
    var outer = 0.0;
    for (var k = 0u; k < P.c; k++) {
      let y = m[base + k] / mx;
      inner += y * y;
      if ((k & 15u) == 15u) { outer += inner; inner = 0.0; }
    }
    norm = mx * sqrt(outer + inner);
  }
  norms[r] = norm;
  let inv = 1.0 / max(norm, 1e-12);
  for (var k = 0u; k < P.c; k++) { m[base + k] = m[base + k] * inv; }`,
  ),
});

/** dv = (dz − z (z·dz))/‖v‖ when ‖v‖ ≥ 1e-12, else dz/1e-12, in place over g (= dz). */
export const NORMALIZE_BACK = defineKernel({
  label: 'normalizeBack',
  params: { rows: 'u32', c: 'u32' },
  bindings: { z: ['read', 'f32'], g: ['read_write', 'f32'], norms: ['read', 'f32'] },
  body: perItem(
    'r',
    'P.rows',
    /* wgsl */ `
  let base = r * P.c;
  let norm = norms[r];
  if (norm >= 1e-12) {
    var inner = 0.0;
    var outer = 0.0;
    for (var k = 0u; k < P.c; k++) {
      inner += z[base + k] * g[base + k];
      if ((k & 15u) == 15u) { outer += inner; inner = 0.0; }
    }
    let d = outer + inner;
    let inv = 1.0 / norm;
    for (var k = 0u; k < P.c; k++) { g[base + k] = (g[base + k] - z[base + k] * d) * inv; }
  } else {
    let inv = 1.0 / 1e-12;
    for (var k = 0u; k < P.c; k++) { g[base + k] = g[base + k] * inv; }
  }`,
  ),
});
