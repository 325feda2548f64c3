// L2 normalization of rows (F.normalize with eps 1e-12) and its backward pass, shared by the
// contrastive losses. Row matrices are `rows × Cp` (see similarity.ts); norms are float64 so that
// vectors far below 1e-12 (whose squares underflow float32) take the right branch.

const NORM_EPS: f64 = 1e-12;

/**
 * z_r = v_r / max(‖v_r‖, 1e-12) for `rows` rows; writes ‖v_r‖ to `norms` (float64 per row).
 * `z` may alias `v`.
 */
export function normalizeRows(v: usize, rows: i32, cp: i32, z: usize, norms: usize): void {
  const rowBytes = (<usize>cp) << 2;
  for (let r = 0; r < rows; r++) {
    const row = v + <usize>r * rowBytes,
      out = z + <usize>r * rowBytes;
    let ss: f64 = 0;
    for (let k: usize = 0; k < rowBytes; k += 4) {
      const x = <f64>load<f32>(row + k);
      ss += x * x;
    }
    const norm = Math.sqrt(ss);
    store<f64>(norms + ((<usize>r) << 3), norm);
    const inv = f32x4.splat(<f32>(1.0 / Math.max(norm, NORM_EPS)));
    for (let k: usize = 0; k < rowBytes; k += 16) v128.store(out + k, f32x4.mul(v128.load(row + k), inv));
  }
}

/**
 * dv_r = (dz_r − z_r (z_r · dz_r)) / ‖v_r‖ when ‖v_r‖ ≥ 1e-12, else dz_r / 1e-12.
 * `dv` may alias `dz`.
 */
export function normalizeRowsBackward(z: usize, dz: usize, rows: i32, cp: i32, norms: usize, dv: usize): void {
  const rowBytes = (<usize>cp) << 2;
  for (let r = 0; r < rows; r++) {
    const zr = z + <usize>r * rowBytes,
      gr = dz + <usize>r * rowBytes,
      out = dv + <usize>r * rowBytes;
    const norm = load<f64>(norms + ((<usize>r) << 3));
    if (norm >= NORM_EPS) {
      let dot: f64 = 0;
      for (let k: usize = 0; k < rowBytes; k += 4) dot += <f64>load<f32>(zr + k) * <f64>load<f32>(gr + k);
      const d = f32x4.splat(<f32>dot),
        inv = f32x4.splat(<f32>(1.0 / norm));
      for (let k: usize = 0; k < rowBytes; k += 16) {
        const g = f32x4.sub(v128.load(gr + k), f32x4.mul(v128.load(zr + k), d));
        v128.store(out + k, f32x4.mul(g, inv));
      }
    } else {
      const inv = f32x4.splat(<f32>(1.0 / NORM_EPS));
      for (let k: usize = 0; k < rowBytes; k += 16) v128.store(out + k, f32x4.mul(v128.load(gr + k), inv));
    }
  }
}
