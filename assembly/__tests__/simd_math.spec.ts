// Unit tests of the shared SIMD helpers: the vector exp and log against the float64 library
// functions, over the ranges the kernels use them on, and the horizontal reductions.
import { expNonPositive, expv, hmax, hsum, log1pUnit, logv } from '../simd_math';

function relErrExp(x: f32): f64 {
  const got = <f64>f32x4.extract_lane(expv(f32x4.splat(x)), 0);
  const want = Math.exp(<f64>x);
  return Math.abs(got - want) / want;
}

function relErrLog(x: f32): f64 {
  const got = <f64>f32x4.extract_lane(logv(f32x4.splat(x)), 0);
  const want = Math.log(<f64>x);
  return Math.abs(got - want) / Math.max(Math.abs(want), 1e-30);
}

describe('expv', () => {
  it('is within 2 float32 ulps of exp on [-87, 88]', () => {
    let worst: f64 = 0;
    for (let i = 0; i <= 200000; i++) {
      const x = <f32>(-87.0 + (175.0 * <f64>i) / 200000.0);
      const e = relErrExp(x);
      if (e > worst) worst = e;
    }
    // One float32 ulp is 2^-23 ≈ 1.19e-7 relative at worst.
    expect(worst).toBeLessThan(2.4e-7);
  });
  it('is exact at 0 and gives 0 far below the float32 range', () => {
    expect(f32x4.extract_lane(expv(f32x4.splat(0)), 0)).toBe(<f32>1.0);
    expect(f32x4.extract_lane(expv(f32x4.splat(-100)), 0)).toBe(<f32>0.0);
    expect(f32x4.extract_lane(expv(f32x4.splat(-3e38)), 0)).toBe(<f32>0.0);
  });
  it('works lane by lane', () => {
    const v = expv(f32x4(-1, 0, 1, 2));
    expect(<f64>f32x4.extract_lane(v, 3)).toBeCloseTo(Math.exp(2.0), 5);
    expect(<f64>f32x4.extract_lane(v, 0)).toBeCloseTo(Math.exp(-1.0), 6);
  });
});

describe('logv', () => {
  it('is within 2 float32 ulps (or 2e-7 absolute near 1) of ln on [1e-30, 1e30]', () => {
    let worst: f64 = 0;
    for (let i = 0; i <= 200000; i++) {
      const x = <f32>Math.pow(10.0, -30.0 + (60.0 * <f64>i) / 200000.0);
      const want = Math.log(<f64>x);
      const got = <f64>f32x4.extract_lane(logv(f32x4.splat(x)), 0);
      const e = Math.abs(got - want) / Math.max(Math.abs(want), 1.0);
      if (e > worst) worst = e;
    }
    expect(worst).toBeLessThan(2.4e-7);
  });
  it('covers [1, C] finely, where cross-entropy uses it', () => {
    let worst: f64 = 0;
    for (let i = 0; i <= 100000; i++) {
      const e = relErrLog(<f32>(1.0 + (255.0 * <f64>i) / 100000.0));
      if (e > worst && i > 0) worst = e;
    }
    expect(worst).toBeLessThan(4e-7);
  });
});

describe('expNonPositive', () => {
  it('is within 2 float32 ulps of exp on [-87, 0]', () => {
    let worst: f64 = 0;
    for (let i = 0; i <= 200000; i++) {
      const x = <f32>((-87.0 * <f64>i) / 200000.0);
      const got = <f64>f32x4.extract_lane(expNonPositive(f32x4.splat(x)), 0);
      const want = Math.exp(<f64>x);
      const e = Math.abs(got - want) / want;
      if (e > worst) worst = e;
    }
    expect(worst).toBeLessThan(2.4e-7);
  });
  it('is exact at 0 and stays a tiny normal number far below the float32 range', () => {
    expect(f32x4.extract_lane(expNonPositive(f32x4.splat(0)), 0)).toBe(<f32>1.0);
    const far = f32x4.extract_lane(expNonPositive(f32x4.splat(-3e38)), 0);
    expect(far).toBeGreaterThan(<f32>1e-38);
    expect(far).toBeLessThan(<f32>1.3e-38);
  });
});

describe('log1pUnit', () => {
  it('is within 2 float32 ulps of ln(1 + x) on [0, 1], also for tiny x', () => {
    let worst: f64 = 0;
    for (let i = 1; i <= 200000; i++) {
      const x = <f32>(<f64>i / 200000.0);
      const got = <f64>f32x4.extract_lane(log1pUnit(f32x4.splat(x)), 0);
      const want = Math.log1p(<f64>x);
      const e = Math.abs(got - want) / want;
      if (e > worst) worst = e;
    }
    for (let p = 1; p <= 38; p++) {
      const x = <f32>Math.pow(10.0, -(<f64>p));
      const want = Math.log1p(<f64>x);
      const e = Math.abs(<f64>f32x4.extract_lane(log1pUnit(f32x4.splat(x)), 0) - want) / want;
      if (e > worst) worst = e;
    }
    expect(worst).toBeLessThan(2.4e-7);
  });
  it('is exact at 0', () => {
    expect(f32x4.extract_lane(log1pUnit(f32x4.splat(0)), 0)).toBe(<f32>0.0);
  });
});

describe('horizontal reductions', () => {
  it('hsum adds the four lanes', () => {
    expect(hsum(f32x4(1, 2, 3, 4.5))).toBe(<f32>10.5);
  });
  it('hmax takes the largest lane', () => {
    expect(hmax(f32x4(-1, 7, 3, 4))).toBe(<f32>7);
    expect(hmax(f32x4(-5, -7, -3, -4))).toBe(<f32>-3);
  });
});
