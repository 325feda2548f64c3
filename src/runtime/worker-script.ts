// The worker's script as text (build/worker.web.txt: src/worker.ts bundled and minified, with no
// node: import), for the browser entry's Blob URL workers (spawn-web.ts).

import code from '../../build/worker.web.txt';

export default code;
