// The smallest app: import the package, call one loss. Its bundle is what the size budget measures.
import { patchContrast } from 'forgery-losses';

const B = 1,
  C = 8,
  H = 16,
  W = 16;
const features = Float32Array.from({ length: B * C * H * W }, (_, i) => Math.sin(i));
const mask = Uint8Array.from({ length: B * H * W }, (_, i) => (i % W > 8 ? 1 : 0));
patchContrast({ features, mask, shape: [B, C, H, W] }).then(
  (r) => {
    window.__result = { loss: r.loss, failures: [] };
  },
  (error) => {
    window.__result = { failures: [String(error?.stack ?? error)] };
  },
);
