// esbuild's binary loader turns a .wasm import into its bytes (the default entry).
declare module '*.wasm' {
  const bytes: Uint8Array<ArrayBuffer>;
  export default bytes;
}
