// esbuild's text loader turns a .txt import into its text (the browser worker's script).
declare module '*.txt' {
  const text: string;
  export default text;
}
