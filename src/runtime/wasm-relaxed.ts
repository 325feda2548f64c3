// The relaxed-SIMD build's bytes, a module of its own (see wasm-simd.ts).

import bytes from '../../build/kernels.relaxed.wasm';

export default bytes;
