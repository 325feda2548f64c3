// Parity with every golden case (tests/fixtures), within the float32 tolerances of
// docs/spec.md §8. The worst errors seen are printed so that a drift shows before it fails.
import { after, describe, test } from 'node:test';
import { checkAgainstGolden } from './helpers/check.mjs';
import { engine, LOSS_FN, WASM_BUILD } from './helpers/engine.mjs';
import { loadCases, optionsOf } from './helpers/golden.mjs';

for (const loss of Object.keys(LOSS_FN)) {
  describe(`golden ${loss} (${WASM_BUILD})`, () => {
    const worst = { loss: 0, grad: 0 };
    for (const c of loadCases(loss)) {
      test(c.name, async () => {
        const e = await engine();
        const result = await e[LOSS_FN[loss]](optionsOf(c));
        if (!result.backend.startsWith('wasm')) throw new Error(`unexpected backend ${result.backend}`);
        const w = checkAgainstGolden(c, result);
        worst.loss = Math.max(worst.loss, w.loss);
        worst.grad = Math.max(worst.grad, w.grad);
      });
    }
    after(() =>
      console.log(
        `# ${loss}: worst loss error ${worst.loss.toExponential(2)} (tolerance 1e-4), worst gradient error ${worst.grad.toExponential(2)} of max (tolerance 1e-3)`,
      ),
    );
  });
}
