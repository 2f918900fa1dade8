import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real-time audio pacing and socket timing: keep suites from fighting over 2 cores.
    fileParallelism: false,
    env: {
      // Tests must never reach a real Gemini or flip to Vertex from the developer's shell.
      GOOGLE_GENAI_USE_VERTEXAI: '',
      GOOGLE_GENAI_USE_ENTERPRISE: '',
    },
  },
});
