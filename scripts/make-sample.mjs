// Writes the sample of `forgery-losses demo` to sample/ (*.npy and README.md): the browser demo
// (examples/web) and the tests read these files. The generator is support/sample.mjs, which the
// CLI runs itself (the package ships no data); this script only writes its output.
import { mkdirSync, writeFileSync } from 'node:fs';
// biome-ignore lint/correctness/useImportExtensions: it is the .mjs file (support/sample.d.mts types it)
import { makeSample, npyBytes, sampleReadme } from '../support/sample.mjs';

const OUT = new URL('../sample/', import.meta.url);
const { features, logits, mask, shape, forged } = makeSample();
const [B, C, H, W] = shape;

mkdirSync(OUT, { recursive: true });
writeFileSync(new URL('features.npy', OUT), npyBytes(features, [B, C, H, W]));
writeFileSync(new URL('logits.npy', OUT), npyBytes(logits, [B, 2, H, W]));
writeFileSync(new URL('mask.npy', OUT), npyBytes(mask, [B, 1, H, W]));
writeFileSync(new URL('README.md', OUT), sampleReadme(forged));
console.log(`wrote sample/ (${forged} forged pixels of ${B * H * W})`);
