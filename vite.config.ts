import { cp, readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

const here = import.meta.dirname;
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

/**
 * Serves a folder of the repository under a URL prefix: models/ (bundles and their catalog, also copied into
 * the build) and, in development and tests only, tests/fixtures/.
 */
function folder(prefix: string, dir: string, ship: boolean, skip: string[] = []): Plugin {
  const root = join(here, dir);
  const skipped = skip.map((s) => join(root, s));
  return {
    name: `stst-folder-${dir}`,
    configureServer(server) {
      server.middlewares.use(prefix, async (req, res, next) => {
        const path = normalize(join(root, decodeURIComponent((req.url ?? '').split('?')[0])));
        if (!path.startsWith(root) || skipped.some((s) => path.startsWith(s))) return next();
        try {
          const body = await readFile(path);
          res.setHeader('Content-Type', path.endsWith('.json') ? 'application/json' : 'application/octet-stream');
          res.end(body);
        } catch {
          next();
        }
      });
    },
    async closeBundle() {
      if (ship) await cp(root, join(here, 'dist', prefix.slice(1)), { recursive: true, filter: (src) => !skipped.some((s) => src.startsWith(s)) });
    },
  };
}

export default defineConfig({
  root: join(here, 'app'),
  publicDir: join(here, 'public'),
  plugins: [
    react(),
    folder('/models', 'models', true, ['training']), // the training scripts and resume states are not the product
    folder('/face-api-models', 'node_modules/@vladmandic/face-api/model', true),
    folder('/fixtures', 'tests/fixtures', false),
  ],
  // Cross-origin isolation (COOP + COEP): the page and its worker get SharedArrayBuffer, so tfjs loads its threaded
  // SIMD wasm build and runs XNNPACK on every core (navigator.hardwareConcurrency) instead of one. Static hosts
  // need the same two headers (README); without them the page still works, on one thread.
  server: { fs: { allow: [here] }, headers: ISOLATION },
  preview: { headers: ISOLATION },
  build: {
    outDir: join(here, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: { input: { main: join(here, 'app', 'index.html') } },
  },
  // tfjs's threaded wasm starts its pthread workers from the text of its module factory (Function.toString), which
  // refers to names of the module around it: minified, every pthread worker fails ("ReferenceError: e is not
  // defined" when mangled, "_scriptDir is not defined" when only compressed) and the built site's WASM backend never
  // starts. So the engine worker's bundle is left as written (the page's own bundle is still minified).
  worker: { format: 'es', rolldownOptions: { output: { minify: false } } },
});
