// The SIMD128 build's bytes, a module of its own: an entry imports it only when it compiles that
// build, so a bundler makes it a chunk that a runtime running the other build never loads.

import bytes from '../../build/kernels.simd.wasm';

export default bytes;
