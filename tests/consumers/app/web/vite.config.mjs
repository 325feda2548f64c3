// Vite, production build of both pages (no plugin, no option about the package).
// `base: './'`: the pages are served under /out/vite/, not at the site's root.
export default {
  base: './',
  logLevel: 'warn',
  build: {
    outDir: process.env.OUT_DIR,
    emptyOutDir: true,
    rollupOptions: { input: { app: 'app.html', 'one-loss': 'one-loss.html' } },
  },
};
