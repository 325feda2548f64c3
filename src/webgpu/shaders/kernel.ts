// The kernel generator of the WebGPU backend. Each kernel is ONE table: its named uniform parameters
// and its named storage bindings, in order, plus the WGSL body that uses them. From the table come
// the WGSL `Params` struct (read as `P.<name>`), the `@group(0) @binding(i)` declarations, the bind
// group layout (device.ts) and the packing of a dispatch's parameters and buffers by name, so a
// parameter or a binding cannot be read from the wrong slot.
//
// Binding 0 is always the uniform `Params` block (a dynamic offset into one uniform buffer per
// submission, PARAM_BYTES a dispatch); the storage bindings follow from 1 in table order.

/** The WGSL type of a uniform parameter: every parameter is one 4-byte scalar. */
export type ParamType = 'u32' | 'i32' | 'f32';

/** Access of a storage binding: 'read' (read-only storage) or 'read_write' (storage). */
export type Access = 'read' | 'read_write';

/** A storage binding: its access and the WGSL element type of its runtime-sized array. */
export type BindingDecl = readonly [access: Access, element: string];

export type ParamTable = Readonly<Record<string, ParamType>>;
export type BindingTable = Readonly<Record<string, BindingDecl>>;

/** Bytes of one dispatch's `Params` block (at most 16 scalar parameters). */
export const PARAM_BYTES = 64;
const MAX_PARAMS = PARAM_BYTES / 4;

export interface KernelDef<P extends ParamTable = ParamTable, B extends BindingTable = BindingTable> {
  readonly label: string;
  readonly params: P;
  readonly bindings: B;
  /** The storage bindings' names in binding order (binding i + 1). */
  readonly bindingNames: readonly string[];
  /** The storage bindings' access in binding order. */
  readonly access: readonly Access[];
  /** The whole WGSL module. */
  readonly code: string;
}

/** A dispatch's parameters of kernel D, by name. */
export type ParamsOf<D extends KernelDef> = { readonly [K in keyof D['params']]: number };

/** A dispatch's buffers of kernel D, by binding name. */
export type BindingsOf<D extends KernelDef, T> = { readonly [K in keyof D['bindings']]: T };

/** What every kernel can use: NEG (−∞ stand-in), EPS, and the flat index of a 64-wide 2-D grid. */
const PRELUDE = /* wgsl */ `const NEG: f32 = -3.0e38;
const EPS: f32 = 1e-18;
fn flatIndex(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * 64u; }`;

/**
 * Defines a kernel from its table: `params` (name → WGSL scalar type, read as `P.<name>`),
 * `bindings` (name → [access, element type], declared as `var<storage, access> name: array<element>`)
 * and `body` (helpers and `main`).
 */
export function defineKernel<const P extends ParamTable, const B extends BindingTable>(spec: {
  label: string;
  params: P;
  bindings: B;
  body: string;
}): KernelDef<P, B> {
  const paramNames = Object.keys(spec.params);
  if (paramNames.length === 0 || paramNames.length > MAX_PARAMS)
    throw new Error(`forgery-losses: WebGPU kernel ${spec.label} needs 1 to ${MAX_PARAMS} parameters`);
  const bindingNames = Object.keys(spec.bindings);
  const fields = paramNames.map((name) => `  ${name}: ${spec.params[name]},`).join('\n');
  const decls = bindingNames
    .map((name, i) => {
      const [access, element] = spec.bindings[name];
      return `@group(0) @binding(${i + 1}) var<storage, ${access}> ${name}: array<${element}>;`;
    })
    .join('\n');
  const uniform = '@group(0) @binding(0) var<uniform> P: Params;';
  const code = [`struct Params {\n${fields}\n}`, uniform, decls, PRELUDE, spec.body].join('\n');
  return {
    label: spec.label,
    params: spec.params,
    bindings: spec.bindings,
    bindingNames,
    access: bindingNames.map((name) => spec.bindings[name][0]),
    code,
  };
}

/**
 * The entry point of a kernel with one invocation per item on a 64-wide grid (flatIndex): `index`
 * names the item, invocations past `count` return, then `body`.
 */
export function perItem(index: string, count: string, body: string): string {
  return `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let ${index} = flatIndex(gid, nwg);
  if (${index} >= ${count}) { return; }
${body}
}`;
}

/**
 * The entry point of a kernel with one invocation per item that also takes part in a workgroup
 * reduction (`lid`, `wid` in scope): `body` runs for every invocation, `index` naming its item.
 */
export function perItemReduced(index: string, body: string): string {
  return `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let ${index} = flatIndex(gid, nwg);
${body}
}`;
}

/** A dispatch's `Params` block (PARAM_BYTES), its parameters written by name. */
export function packParams<D extends KernelDef>(def: D, params: ParamsOf<D>): Uint32Array {
  const u32 = new Uint32Array(MAX_PARAMS),
    i32 = new Int32Array(u32.buffer),
    f32 = new Float32Array(u32.buffer);
  const values = params as Readonly<Record<string, number>>;
  Object.keys(def.params).forEach((name, i) => {
    const v = values[name];
    if (typeof v !== 'number') throw new Error(`forgery-losses: WebGPU kernel ${def.label} needs parameter ${name}`);
    const type = def.params[name];
    if (type === 'f32') f32[i] = v;
    else if (type === 'i32') i32[i] = v;
    else u32[i] = v >>> 0;
  });
  return u32;
}

/** A dispatch's buffers, by name, in binding order. */
export function orderBindings<D extends KernelDef, T>(def: D, bindings: BindingsOf<D, T>): T[] {
  const named = bindings as Readonly<Record<string, T>>;
  return def.bindingNames.map((name) => {
    const b = named[name];
    if (b === undefined) throw new Error(`forgery-losses: WebGPU kernel ${def.label} needs binding ${name}`);
    return b;
  });
}
