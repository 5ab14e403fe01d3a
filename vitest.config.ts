import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // One worker: the machine has two cores and the heavy tests use both through the wasm backend.
    fileParallelism: false,
  },
});
