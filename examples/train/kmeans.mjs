// FOCAL's test-time localization: cluster an image's L2-normalized per-pixel features into two
// groups (k-means, k = 2) and call the smaller group forged. And the IoU that scores it.

/**
 * @param {Float32Array} features (D, H·W) of one image, NCHW order
 * @returns {Uint8Array} (H·W) 1 = forged (the smaller cluster)
 */
export function twoMeans(features, d, hw, iterations = 20) {
  const x = new Float32Array(hw * d); // pixel-major, normalized
  for (let p = 0; p < hw; p++) {
    let n = 0;
    for (let c = 0; c < d; c++) n += features[c * hw + p] ** 2;
    const s = 1 / Math.max(Math.sqrt(n), 1e-12);
    for (let c = 0; c < d; c++) x[p * d + c] = features[c * hw + p] * s;
  }
  const dist = (p, center) => {
    let s = 0;
    for (let c = 0; c < d; c++) s += (x[p * d + c] - center[c]) ** 2;
    return s;
  };
  // Deterministic start: the pixel farthest from the mean, then the pixel farthest from that one.
  const mean = new Float64Array(d);
  for (let p = 0; p < hw; p++) for (let c = 0; c < d; c++) mean[c] += x[p * d + c] / hw;
  const farthestFrom = (center) => {
    let best = 0,
      bestD = -1;
    for (let p = 0; p < hw; p++) {
      const e = dist(p, center);
      if (e > bestD) {
        bestD = e;
        best = p;
      }
    }
    return x.slice(best * d, (best + 1) * d);
  };
  const centers = [farthestFrom(mean)];
  centers.push(farthestFrom(centers[0]));
  const label = new Uint8Array(hw);
  for (let it = 0; it < iterations; it++) {
    let changed = 0;
    for (let p = 0; p < hw; p++) {
      const l = dist(p, centers[1]) < dist(p, centers[0]) ? 1 : 0;
      if (l !== label[p]) {
        label[p] = l;
        changed++;
      }
    }
    const sums = [new Float64Array(d), new Float64Array(d)],
      counts = [0, 0];
    for (let p = 0; p < hw; p++) {
      counts[label[p]]++;
      for (let c = 0; c < d; c++) sums[label[p]][c] += x[p * d + c];
    }
    for (let k = 0; k < 2; k++) if (counts[k] > 0) centers[k] = Float32Array.from(sums[k], (v) => v / counts[k]);
    if (it > 0 && changed === 0) break;
  }
  let ones = 0;
  for (const l of label) ones += l;
  if (ones > hw / 2) for (let p = 0; p < hw; p++) label[p] ^= 1; // the smaller cluster is the forged one
  return label;
}

/** Intersection over union of a predicted and a true mask (both 0/1); 1 when both are empty. */
export function iou(pred, truth) {
  let inter = 0,
    union = 0;
  for (let i = 0; i < truth.length; i++) {
    const a = pred[i] > 0.5,
      b = truth[i] > 0.5;
    if (a && b) inter++;
    if (a || b) union++;
  }
  return union === 0 ? 1 : inter / union;
}
