import { defineConfig } from '@playwright/test';

// E2E_PORT: another port, to run a second suite beside one already running (two checkouts on one machine)
const PORT = Number(process.env.E2E_PORT ?? 5183);

/** Debian's Chromium (no downloaded browser); WebGPU comes from SwiftShader in headless mode. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
];

export default defineConfig({
  testDir: 'e2e',
  timeout: 600_000,
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: 'chromium',
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS },
  },
  // The editor's and the demo models' tests run twice: on WebGPU (SwiftShader) and forced to WASM; the other specs
  // choose backends themselves.
  projects: [
    { name: 'webgpu' },
    { name: 'wasm', testMatch: ['app.spec.ts', 'editor-state.spec.ts', 'demo.spec.ts'] },
  ],
  webServer: {
    command: `npx vite --port ${PORT} --strictPort --host 127.0.0.1`,
    url: `http://127.0.0.1:${PORT}/`,
    reuseExistingServer: false,
    timeout: 120_000,
  },
});
