// The engine the TF.js ops run on: made (or adopted) once by `await ready()`, since an op is a
// synchronous step of TF.js's gradient tape and cannot wait for one. On TF.js's webgpu backend
// the engine is made on TF.js's own device, and the ops keep their data there (docs/tfjs.md).

import * as tf from '@tensorflow/tfjs-core';
import { createEngine } from '../index.js';
import type { Engine, EngineOptions } from '../types.js';
import { tfDevice } from './on-device.js';

/** createEngine's options, or an engine of the caller's. */
export type ReadyOptions = EngineOptions | { engine: Engine };

let current: { engine: Engine; owned: boolean } | undefined;

/**
 * Makes the engine the ops run on (threads 'auto' with workers started now, unless the options
 * say otherwise; on TF.js's webgpu backend, on its device unless they name a backend or a device),
 * or adopts `{ engine }`. Without options, a second call returns the engine the first made; with
 * options, it replaces it (an engine made here is disposed, an adopted one not).
 */
export async function ready(options?: ReadyOptions): Promise<Engine> {
  if (current && options === undefined) return current.engine;
  const previous = current;
  current = undefined;
  if (previous?.owned) await previous.engine.dispose();
  if (options && 'engine' in options) {
    current = { engine: options.engine, owned: false };
  } else {
    await tf.ready();
    const device = options?.backend === undefined && options?.device === undefined ? tfDevice() : undefined;
    const engine = await createEngine({ threads: 'auto', workers: 'eager', ...(device && { device }), ...options });
    current = { engine, owned: true };
  }
  return current.engine;
}

/** The engine of `ready()`; an op used before it throws an Error that says so. */
export function engineFor(op: string): Engine {
  if (!current)
    throw new Error(
      `forgery-losses/tfjs: ${op} needs the engine that \`await ready()\` makes; call it once before using the losses`,
    );
  return current.engine;
}
