// forgery-losses in the browser: the bundled sample through every loss on each backend (wasm on one
// thread, wasm on worker threads, WebGPU where createEngine accepts it), with maps of the selected
// image: its mask, the per-patch contrastive loss and the per-pixel gradient magnitude.
// Plain ESM, no build step and no external resources: served from the repository root by
// examples/web/serve.mjs, it imports the package from /dist/ (dist/worker.js must sit beside
// dist/index.js) and fetches /sample/*.npy.
// For tests, the numbers shown are exposed as window.__demo (see `demo` below) and as data
// attributes of the table cells: td[data-backend][data-loss] carries data-value and data-ms.
import { createEngine } from '/dist/index.js';

const SAMPLE_DIR = new URL('../../sample/', import.meta.url);
const CFL_WEIGHT = [0.0892, 0.9108];
const PATCH = 4;
const REPEATS = 3;

const BACKENDS = [
  { id: 'wasm-1', label: 'wasm · 1 thread', options: { threads: 1 } },
  { id: 'wasm-threads', label: 'wasm · threads', options: { threads: 'auto' } },
  { id: 'webgpu', label: 'WebGPU', options: { backend: 'webgpu' } },
];

/** Every loss the table shows; `run` makes one call (forward and gradient) on an engine. */
const LOSSES = [
  {
    id: 'patchContrast',
    detail: (p) => `${p.variant} · τ ${p.temperature} · patch ${PATCH}`,
    run: (e, s, p) =>
      e.patchContrast({
        features: s.features,
        mask: s.mask,
        shape: s.shape,
        patchSize: PATCH,
        variant: p.variant,
        temperature: p.temperature,
      }),
  },
  {
    id: 'infoNCE',
    detail: (p) => `mean-logit · full dictionary · τ ${p.temperature}`,
    run: (e, s, p) =>
      e.infoNCE({
        features: s.features,
        mask: s.mask,
        shape: s.shape,
        temperature: p.temperature,
        positive: 'mean-logit',
      }),
  },
  {
    id: 'crossEntropy',
    detail: () => 'mask as target · CFL weights',
    run: (e, s) => e.crossEntropy({ logits: s.logits, shape: s.logitShape, target: s.target, weight: CFL_WEIGHT }),
  },
  {
    id: 'cflObjective',
    detail: (p) => `CE + patchContrast cflnet · τ ${p.temperature}`,
    run: (e, s, p) =>
      e.cflObjective({
        logits: s.logits,
        features: s.features,
        mask: s.mask,
        shape: s.shape,
        patchSize: PATCH,
        temperature: p.temperature,
      }),
  },
];

// Colour maps (matplotlib's inferno and viridis, ten stops each, interpolated).
const INFERNO = [
  '#000004',
  '#1b0c41',
  '#4a0c6b',
  '#781c6d',
  '#a52c60',
  '#cf4446',
  '#ed6925',
  '#fb9b06',
  '#f7d13d',
  '#fcffa4',
];
const VIRIDIS = [
  '#440154',
  '#482878',
  '#3e4989',
  '#31688e',
  '#26828e',
  '#1f9e89',
  '#35b779',
  '#6ece58',
  '#b5de2b',
  '#fde725',
];
const MASK_COLOURS = { pristine: [31, 36, 46], forged: [244, 241, 234] };

/** What the page shows, for tests: `ready` is false while a computation runs. */
const demo = { ready: false, runs: 0, params: null, results: [], runtime: null, error: null };
window.__demo = demo;

const $ = (id) => document.getElementById(id);
const state = { sample: null, backends: [], shown: null, image: 0, gradSource: 'patchContrast', outline: true };

// ---------------------------------------------------------------- .npy files

const ITEM = { '<f4': 4, '<f8': 8, '|u1': 1, '|b1': 1, '<i4': 4 };
const ALIAS = { '<u1': '|u1', '|?': '|b1', '<b1': '|b1' };

/** Decodes a NumPy .npy file (versions 1–3, C order, little-endian) into { shape, data: Float32Array }. */
function decodeNpy(buffer, source) {
  const bytes = new Uint8Array(buffer);
  const fail = (why) => {
    throw new Error(`${source}: ${why}`);
  };
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) fail('not a .npy file');
  const major = bytes[6];
  if (major < 1 || major > 3) fail(`unsupported .npy version ${major}`);
  const view = new DataView(buffer);
  const start = major === 1 ? 10 : 12;
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLength));
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const dims = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || dims === undefined) fail('bad header');
  if (fortran === 'True') fail('Fortran-order arrays are not supported');
  const dtype = ALIAS[descr] ?? descr;
  if (!(dtype in ITEM)) fail(`unsupported dtype ${descr}`);
  const shape = dims
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => Number.parseInt(s, 10));
  const size = shape.reduce((n, d) => n * d, 1);
  const offset = start + headerLength;
  if (bytes.length - offset < size * ITEM[dtype]) fail('truncated data');
  const get = {
    '<f4': (i) => view.getFloat32(offset + 4 * i, true),
    '<f8': (i) => view.getFloat64(offset + 8 * i, true),
    '<i4': (i) => view.getInt32(offset + 4 * i, true),
    '|u1': (i) => view.getUint8(offset + i),
    '|b1': (i) => view.getUint8(offset + i),
  }[dtype];
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = get(i);
  return { shape, data };
}

async function fetchNpy(name) {
  const url = new URL(name, SAMPLE_DIR);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  return decodeNpy(await response.arrayBuffer(), url.pathname);
}

async function loadSample() {
  const [features, logits, mask] = await Promise.all(['features.npy', 'logits.npy', 'mask.npy'].map(fetchNpy));
  const [b, , h, w] = features.shape;
  // The mask holds exactly 0 and 1 (sample/README.md): it is also the cross-entropy class target.
  return {
    features: features.data,
    logits: logits.data,
    mask: mask.data,
    target: Int32Array.from(mask.data),
    shape: features.shape,
    logitShape: [b, logits.shape[1], h, w],
  };
}

// ---------------------------------------------------------------- engines and computation

async function startBackend(backend) {
  const started = performance.now();
  try {
    const engine = await createEngine(backend.options);
    const { info } = engine;
    // A software adapter (SwiftShader, llvmpipe) runs WebGPU on the CPU, 40–300× slower than wasm:
    // it would stall the page for seconds, so it runs only when the URL asks for it.
    if (
      backend.id === 'webgpu' &&
      info.webgpu?.isFallbackAdapter &&
      !new URLSearchParams(location.search).has('software-webgpu')
    ) {
      await engine.dispose();
      const what = [info.webgpu.vendor, info.webgpu.architecture].filter(Boolean).join(' ') || 'software';
      return {
        ...backend,
        available: false,
        reason: `skipped: the adapter is a software one (${what}), far slower than wasm; add ?software-webgpu to the URL to run it anyway`,
      };
    }
    const label =
      backend.id === 'wasm-threads' ? `wasm · ${info.threads} thread${info.threads === 1 ? '' : 's'}` : backend.label;
    return { ...backend, label, available: true, engine, info, startupMs: performance.now() - started };
  } catch (error) {
    return { ...backend, available: false, reason: error?.message ?? String(error) };
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const nextFrame = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Runs every loss on every available backend; the median of REPEATS calls is the time shown. */
async function compute(params) {
  const results = [];
  let first = null;
  for (const backend of state.backends) {
    if (!backend.available) {
      results.push({ id: backend.id, label: backend.label, available: false, reason: backend.reason });
      continue;
    }
    const losses = {};
    const raw = {};
    for (const loss of LOSSES) {
      const times = [];
      let result;
      for (let k = 0; k < REPEATS; k++) {
        const started = performance.now();
        result = await loss.run(backend.engine, state.sample, params);
        times.push(performance.now() - started);
      }
      losses[loss.id] = { value: result.loss, ms: median(times) };
      raw[loss.id] = result;
      await nextFrame();
    }
    first ??= raw;
    const { info } = backend;
    results.push({
      id: backend.id,
      label: backend.label,
      available: true,
      backend: info.backend,
      threads: info.threads,
      notes: [...info.notes],
      startupMs: backend.startupMs,
      losses,
    });
  }
  return { params, results, raw: first };
}

// ---------------------------------------------------------------- formatting

function formatValue(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a === 0 || (a >= 1e-3 && a < 1e6) ? v.toPrecision(6) : v.toExponential(5);
}
const formatMs = (ms) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1));
const formatShort = (v) => (Math.abs(v) >= 1e-2 && Math.abs(v) < 1e4 ? v.toPrecision(3) : v.toExponential(2));

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// ---------------------------------------------------------------- the table

function renderTable(shown) {
  const head = $('results-head');
  head.replaceChildren(el('th', { scope: 'col' }, 'backend'));
  for (const loss of LOSSES)
    head.append(el('th', { scope: 'col' }, loss.id, el('span', { class: 'detail' }, loss.detail(shown.params))));
  head.append(el('th', { scope: 'col', class: 'total' }, 'total', el('span', { class: 'detail' }, 'ms, all four')));

  const body = $('results-body');
  body.replaceChildren();
  for (const r of shown.results) {
    const name = el('th', { scope: 'row' }, el('span', { class: 'backend-name' }, r.label));
    const row = el('tr', { dataset: { backend: r.id, available: String(r.available) } }, name);
    if (!r.available) {
      if (r.id === 'webgpu')
        name.append(
          el('span', { class: 'sub' }, `navigator.gpu ${demo.runtime?.webgpu ? 'present' : 'absent'} in this browser`),
        );
      name.append(el('span', { class: 'badge off' }, 'unavailable'));
      row.append(
        el(
          'td',
          { colspan: String(LOSSES.length + 1), class: 'unavailable', dataset: { backend: r.id, reason: r.reason } },
          `Unavailable: ${r.reason}`,
        ),
      );
      body.append(row);
      continue;
    }
    name.append(
      el(
        'span',
        { class: 'sub' },
        `${r.backend} · ${r.threads} thread${r.threads === 1 ? '' : 's'} · started in ${formatMs(r.startupMs)} ms`,
      ),
    );
    for (const note of r.notes) name.append(el('span', { class: 'note' }, note));
    let total = 0;
    for (const loss of LOSSES) {
      const { value, ms } = r.losses[loss.id];
      total += ms;
      row.append(
        el(
          'td',
          { dataset: { backend: r.id, loss: loss.id, value: String(value), ms: String(ms) } },
          el('span', { class: 'value' }, formatValue(value)),
          el('span', { class: 'ms' }, `${formatMs(ms)} ms`),
        ),
      );
    }
    row.append(
      el(
        'td',
        { class: 'total', dataset: { backend: r.id, total: String(total) } },
        el('span', { class: 'ms strong' }, `${formatMs(total)} ms`),
      ),
    );
    body.append(row);
  }

  const ran = shown.results.filter((r) => r.available);
  let worst = 0;
  for (const loss of LOSSES) {
    const values = ran.map((r) => r.losses[loss.id].value);
    const ref = values[0];
    for (const v of values) worst = Math.max(worst, Math.abs(v - ref) / Math.max(Math.abs(ref), 1e-30));
  }
  const agreement =
    ran.length > 1
      ? ` Largest relative difference between backends: ${worst === 0 ? '0 (identical)' : worst.toExponential(1)}.`
      : '';
  $('results-note').textContent =
    `Each time is the median of ${REPEATS} calls (forward pass and gradient).${agreement}`;
  $('results-note').dataset.maxRelativeDifference = String(worst);
}

// ---------------------------------------------------------------- the maps

function lut(stops) {
  const rgb = stops.map((hex) => [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)));
  const table = new Uint8ClampedArray(256 * 3);
  for (let k = 0; k < 256; k++) {
    const x = (k / 255) * (rgb.length - 1);
    const i = Math.min(rgb.length - 2, Math.floor(x));
    const f = x - i;
    for (let c = 0; c < 3; c++) table[3 * k + c] = rgb[i][c] + f * (rgb[i + 1][c] - rgb[i][c]);
  }
  return table;
}
const LUTS = { inferno: lut(INFERNO), viridis: lut(VIRIDIS) };
const gradientCss = (stops) => `linear-gradient(to right, ${stops.join(', ')})`;

/** Draws a gw×gh grid of colours on the canvas, each cell a block (nearest-neighbour upsampling). */
function drawCells(canvas, gw, gh, colourAt) {
  const small = document.createElement('canvas');
  small.width = gw;
  small.height = gh;
  const image = new ImageData(gw, gh);
  for (let i = 0; i < gw * gh; i++) {
    const [r, g, b] = colourAt(i);
    image.data.set([r, g, b, 255], 4 * i);
  }
  small.getContext('2d').putImageData(image, 0, 0);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  return ctx;
}

/** Strokes the boundary between forged and pristine pixels (a dark halo under a light line). */
function drawOutline(ctx, mask, w, h) {
  const sx = ctx.canvas.width / w;
  const sy = ctx.canvas.height / h;
  ctx.beginPath();
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = mask[y * w + x] > 0.5;
      if (x + 1 < w && v !== mask[y * w + x + 1] > 0.5) {
        ctx.moveTo((x + 1) * sx, y * sy);
        ctx.lineTo((x + 1) * sx, (y + 1) * sy);
      }
      if (y + 1 < h && v !== mask[(y + 1) * w + x] > 0.5) {
        ctx.moveTo(x * sx, (y + 1) * sy);
        ctx.lineTo((x + 1) * sx, (y + 1) * sy);
      }
    }
  }
  ctx.lineCap = 'round';
  ctx.strokeStyle = 'rgba(0, 0, 0, 0.55)';
  ctx.lineWidth = 3.5;
  ctx.stroke();
  ctx.strokeStyle = 'rgba(255, 255, 255, 0.95)';
  ctx.lineWidth = 1.5;
  ctx.stroke();
}

function range(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

function colourOf(table, v, lo, hi) {
  if (!Number.isFinite(v)) return [128, 128, 128];
  const k = hi > lo ? Math.round((255 * (v - lo)) / (hi - lo)) : 0;
  const j = 3 * Math.min(255, Math.max(0, k));
  return [table[j], table[j + 1], table[j + 2]];
}

/** Per-pixel L2 norm over channels of a (B, C, H, W) gradient, for one image. */
function gradientMagnitude(grad, img, c, hw) {
  const out = new Float32Array(hw);
  const base = img * c * hw;
  for (let ch = 0; ch < c; ch++) {
    const plane = base + ch * hw;
    for (let i = 0; i < hw; i++) out[i] += grad[plane + i] * grad[plane + i];
  }
  for (let i = 0; i < hw; i++) out[i] = Math.sqrt(out[i]);
  return out;
}

/** What the maps of the selected image hold, for drawing and for the hover readouts. */
let maps = null;

function renderMaps() {
  const shown = state.shown;
  if (!shown?.raw) return;
  const [, c, h, w] = state.sample.shape;
  const hw = h * w;
  const img = state.image;
  const mask = state.sample.mask.subarray(img * hw, (img + 1) * hw);

  let forged = 0;
  for (const v of mask) forged += v > 0.5 ? 1 : 0;
  drawCells($('mask-canvas'), w, h, (i) => (mask[i] > 0.5 ? MASK_COLOURS.forged : MASK_COLOURS.pristine));
  $('mask-caption').textContent = `image ${img} · ${forged} of ${hw} px forged`;

  const pc = shown.raw.patchContrast;
  const [kh, kw] = pc.grid;
  const n = kh * kw;
  const perPatch = pc.perPatchLoss.subarray(img * n, (img + 1) * n);
  const labels = pc.patchLabels.subarray(img * n, (img + 1) * n);
  const [heatLo, heatHi] = range(perPatch);
  const heat = drawCells($('heat-canvas'), kw, kh, (i) => colourOf(LUTS.inferno, perPatch[i], heatLo, heatHi));
  if (state.outline) drawOutline(heat, mask, w, h);
  $('heat-caption').textContent =
    `${shown.params.variant} · τ ${shown.params.temperature} · ${kh}×${kw} patches of ${PATCH}×${PATCH}`;
  $('heat-lo').textContent = formatShort(heatLo);
  $('heat-hi').textContent = formatShort(heatHi);

  const source = shown.raw[state.gradSource];
  const magnitude = gradientMagnitude(source.grad.features, img, c, hw);
  const [, gradHi] = range(magnitude);
  const grad = drawCells($('grad-canvas'), w, h, (i) => colourOf(LUTS.viridis, magnitude[i], 0, gradHi));
  if (state.outline) drawOutline(grad, mask, w, h);
  $('grad-caption').textContent = `‖∂ ${state.gradSource} / ∂ features‖₂ over ${c} channels`;
  $('grad-lo').textContent = '0';
  $('grad-hi').textContent = formatShort(gradHi);

  maps = { w, h, kh, kw, mask, perPatch, labels, magnitude };
  for (const id of ['mask', 'heat', 'grad']) $(`${id}-readout`).textContent = 'Hover the map for values.';
}

/** The cell of a w×h grid under the pointer. */
function cellAt(event, w, h) {
  const rect = event.currentTarget.getBoundingClientRect();
  const x = Math.min(w - 1, Math.max(0, Math.floor(((event.clientX - rect.left) / rect.width) * w)));
  const y = Math.min(h - 1, Math.max(0, Math.floor(((event.clientY - rect.top) / rect.height) * h)));
  return { x, y };
}

function hover(id, describe) {
  const canvas = $(`${id}-canvas`);
  canvas.addEventListener('mousemove', (event) => {
    if (maps) $(`${id}-readout`).textContent = describe(event);
  });
  canvas.addEventListener('mouseleave', () => {
    if (maps) $(`${id}-readout`).textContent = 'Hover the map for values.';
  });
}

// ---------------------------------------------------------------- controls and the recompute loop

function readParams() {
  const variant = document.querySelector('input[name="variant"]:checked').value;
  const temperature = Number($('temperature').value);
  return { variant, temperature };
}

const keyOf = (p) => `${p.variant}|${p.temperature}`;
let pending = null;
let running = false;
let debounce;
let readyText = '';

function setStatus(text, stateName) {
  const status = $('status');
  status.textContent = text;
  status.dataset.state = stateName;
}

function request(params) {
  pending = params;
  if (!running) void drain();
}

async function drain() {
  running = true;
  demo.ready = false;
  document.body.classList.add('busy');
  while (pending) {
    const params = pending;
    pending = null;
    if (state.shown && keyOf(state.shown.params) === keyOf(params) && !demo.error) continue;
    setStatus(`Computing ${params.variant}, τ ${params.temperature}…`, 'busy');
    await nextFrame();
    const started = performance.now();
    try {
      const shown = await compute(params);
      state.shown = shown;
      demo.params = { ...params };
      demo.results = shown.results.map((r) => structuredClone(r));
      demo.error = null;
      demo.runs++;
      renderTable(shown);
      renderMaps();
      const ran = shown.results.filter((r) => r.available).length;
      readyText = `Ready · ${LOSSES.length} losses on ${ran} backend${ran === 1 ? '' : 's'} in ${formatMs(performance.now() - started)} ms`;
      setStatus(readyText, 'ready');
    } catch (error) {
      demo.error = error?.message ?? String(error);
      setStatus(`Error: ${demo.error}`, 'error');
    }
  }
  document.body.classList.remove('busy');
  running = false;
  demo.ready = true;
}

function onTemperature(fromSlider) {
  const number = $('temperature');
  const slider = $('temperature-range');
  if (fromSlider) number.value = slider.value;
  const t = Number(number.value);
  const valid = number.value !== '' && Number.isFinite(t) && t > 0;
  number.setAttribute('aria-invalid', String(!valid));
  if (!valid) {
    setStatus('The temperature must be a number > 0.', 'error');
    return false;
  }
  if (!fromSlider) slider.value = String(Math.min(Number(slider.max), Math.max(Number(slider.min), t)));
  if ($('status').dataset.state === 'error' && !demo.error && readyText) setStatus(readyText, 'ready');
  return true;
}

function wireControls() {
  const form = $('controls');
  form.addEventListener('submit', (event) => event.preventDefault());
  for (const radio of document.querySelectorAll('input[name="variant"]'))
    radio.addEventListener('change', () => request(readParams()));
  $('temperature-range').addEventListener('input', () => {
    if (!onTemperature(true)) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => request(readParams()), 200);
  });
  $('temperature').addEventListener('input', () => {
    if (!onTemperature(false)) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => request(readParams()), 400);
  });
  $('temperature').addEventListener('change', () => {
    if (!onTemperature(false)) return;
    clearTimeout(debounce);
    request(readParams());
  });
  $('image').addEventListener('change', (event) => {
    state.image = Number(event.target.value);
    renderMaps();
  });
  $('grad-source').addEventListener('change', (event) => {
    state.gradSource = event.target.value;
    renderMaps();
  });
  $('outline').addEventListener('change', (event) => {
    state.outline = event.target.checked;
    renderMaps();
  });

  hover('mask', (e) => {
    const { x, y } = cellAt(e, maps.w, maps.h);
    return `pixel (${y}, ${x}): ${maps.mask[y * maps.w + x] > 0.5 ? 'forged' : 'pristine'}`;
  });
  hover('heat', (e) => {
    const { x, y } = cellAt(e, maps.kw, maps.kh);
    const i = y * maps.kw + x;
    return `patch (${y}, ${x}), ${maps.labels[i] ? 'forged' : 'pristine'}: L = ${formatValue(maps.perPatch[i])}`;
  });
  hover('grad', (e) => {
    const { x, y } = cellAt(e, maps.w, maps.h);
    return `pixel (${y}, ${x}): ‖∇‖ = ${maps.magnitude[y * maps.w + x].toExponential(3)}`;
  });
}

function describeRuntime(backends) {
  const info = backends.find((b) => b.available)?.info;
  const yes = (b) => (b ? 'yes' : 'no');
  const runtime = {
    simd: info?.features.simd ?? false,
    relaxedSimd: info?.features.relaxedSimd ?? false,
    workers: info?.features.workers ?? false,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    webgpu: 'gpu' in navigator && navigator.gpu != null,
    cores: navigator.hardwareConcurrency ?? null,
  };
  demo.runtime = runtime;
  const footer = $('footer');
  footer.append(
    el('br'),
    `This browser: SIMD ${yes(runtime.simd)} · relaxed SIMD ${yes(runtime.relaxedSimd)} · workers ${yes(runtime.workers)} · cross-origin isolated ${yes(runtime.crossOriginIsolated)} · navigator.gpu ${yes(runtime.webgpu)} · ${runtime.cores ?? '?'} logical cores.`,
  );
}

async function main() {
  for (const [id, stops] of [
    ['heat-bar', INFERNO],
    ['grad-bar', VIRIDIS],
  ])
    $(id).style.background = gradientCss(stops);
  wireControls();
  try {
    const [sample, ...backends] = await Promise.all([loadSample(), ...BACKENDS.map(startBackend)]);
    state.sample = sample;
    state.backends = backends;
    if (!backends.some((b) => b.available))
      throw new Error(`no backend could start: ${backends.map((b) => `${b.label}: ${b.reason}`).join('; ')}`);
    describeRuntime(backends);
  } catch (error) {
    demo.error = error?.message ?? String(error);
    demo.ready = true;
    setStatus(`Error: ${demo.error}`, 'error');
    return;
  }
  request(readParams());
}

main();
