import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

const here = import.meta.dirname;

/** Serves the test fixtures at /fixtures during development and tests only (they are never bundled). */
function fixtures(): Plugin {
  const root = join(here, 'tests', 'fixtures');
  return {
    name: 'stst-fixtures',
    apply: 'serve',
    configureServer(server) {
      server.middlewares.use('/fixtures', async (req, res, next) => {
        const path = normalize(join(root, decodeURIComponent((req.url ?? '').split('?')[0])));
        if (!path.startsWith(root)) return next();
        try {
          const body = await readFile(path);
          res.setHeader('Content-Type', 'application/octet-stream');
          res.end(body);
        } catch {
          next();
        }
      });
    },
  };
}

export default defineConfig({
  root: join(here, 'app'),
  publicDir: join(here, 'public'),
  plugins: [react(), fixtures()],
  server: { fs: { allow: [here] } },
  build: { outDir: join(here, 'dist'), emptyOutDir: true, target: 'es2022' },
  worker: { format: 'es' },
});
