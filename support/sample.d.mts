// Types of support/sample.mjs, for the CLI's TypeScript (src/cli/demo.ts).

export declare const SEED: number;
export declare const SHAPE: readonly [number, number, number, number];

export interface Sample {
  features: Float32Array;
  logits: Float32Array;
  mask: Float32Array;
  shape: [number, number, number, number];
  forged: number;
}

export declare function makeSample(): Sample;
export declare function npyBytes(values: ArrayLike<number>, shape: readonly number[]): Uint8Array;
export declare function sampleReadme(forged: number): string;
