/**
 * Run before each test file. Files share a worker process (vitest `isolate: false`), so each
 * starts from what a fresh process would give it: the framework's logger at the tests' level,
 * and no environment variable or spy left over from the file before.
 */
import { initializeLogger } from '@livekit/agents';
import { afterAll, vi } from 'vitest';

initializeLogger({ pretty: false, level: process.env.LOG_LEVEL ?? 'error' });

afterAll(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  vi.useRealTimers();
});
