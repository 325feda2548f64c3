// addF32 against a scalar float32 loop: every length from 0 to 13 (the vector body and its tail),
// bit for bit, and only the n elements given are written.
import { addF32 } from '../sums';

describe('addF32', () => {
  it('adds n floats in place, bit for bit as scalar float32 adds, and nothing beyond', () => {
    const dst = memory.data(64),
      src = memory.data(64);
    for (let n = 0; n <= 13; n++) {
      for (let i = 0; i < 16; i++) {
        store<f32>(dst + ((<usize>i) << 2), <f32>Math.sin(<f64>(i + n)) * 1000);
        store<f32>(src + ((<usize>i) << 2), <f32>Math.cos(<f64>(3 * i)) * 0.001);
      }
      addF32(dst, src, n);
      for (let i = 0; i < 16; i++) {
        const a = <f32>Math.sin(<f64>(i + n)) * 1000;
        const want: f32 = i < n ? a + <f32>Math.cos(<f64>(3 * i)) * 0.001 : a;
        expect(load<f32>(dst + ((<usize>i) << 2))).toBe(want);
      }
    }
  });
});
