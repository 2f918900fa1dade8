import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Most suites wait on real-time audio, sockets and child processes rather than the CPU: run
    // three files at a time on 2 cores, and up to 8 tests at a time in a concurrent suite. Timing
    // assertions are written to hold beside that (and beside a CPU-bound neighbour).
    fileParallelism: true,
    maxWorkers: 3,
    maxConcurrency: 8,
    // Three files of real-time calls at once load 2 cores four times over: a test that measures
    // wall-clock timing can lose a race to the machine once in a few hundred runs. A second
    // attempt keeps such a loss from failing the run; a logic bug fails both (the reporter
    // marks a test that needed its retry). `npx vitest run --retry 0` shows first attempts only.
    retry: 1,
    // A worker process runs file after file without reloading the framework for each (about
    // 0.6 s of CPU per file); test/support/setup.ts puts back what a file may change.
    isolate: false,
    setupFiles: ['test/support/setup.ts'],
    env: {
      // Tests must never reach a real Gemini or flip to Vertex from the developer's shell.
      GOOGLE_GENAI_USE_VERTEXAI: '',
      GOOGLE_GENAI_USE_ENTERPRISE: '',
    },
  },
});
