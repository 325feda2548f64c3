// The browser entry's workers: module Web Workers whose script is the package's worker, inlined
// as text and started from a Blob URL. A bundler needs to know nothing about it (no worker file to
// find, emit or serve, no `new URL(…, import.meta.url)` pattern to recognise), and its minifier
// never sees the worker's code. The text is a separate module, imported only when a pool starts.
// A page whose Content-Security-Policy forbids blob: workers gets a note saying that workers
// could not start, and runs on one thread.

import { navigatorCores, type Platform, startWebWorker } from './spawn.js';

let scriptUrl: Promise<string> | undefined;

function workerScriptUrl(): Promise<string> {
  scriptUrl ??= import('../worker-script.js').then(({ default: code }) =>
    URL.createObjectURL(new Blob([code], { type: 'text/javascript' })),
  );
  return scriptUrl;
}

export const webPlatform: Platform = {
  spawn: async (events) => {
    let answered = false;
    return startWebWorker(await workerScriptUrl(), {
      message: (data) => {
        answered = true;
        events.message(data);
      },
      // A browser says nothing about a worker whose script was refused; the likely cause is the page's CSP.
      died: (reason) =>
        events.died(
          answered || reason !== 'worker error'
            ? reason
            : 'its script, a blob: URL, did not load; a Content-Security-Policy must allow worker-src blob:',
        ),
    });
  },
  cores: async () => navigatorCores(),
};
