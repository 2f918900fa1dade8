/**
 * LiveKit's `v1-mini` end-of-turn model run in this process, for calls outside a worker job (the
 * console, the tests, the bench). In a job the framework runs it in the worker's shared inference
 * process (`getJobContext().inferenceExecutor`, one model for every call); outside a job its
 * TurnDetector has no executor and answers every question with a fixed 1.0, so no turn is ever
 * held. This executor implements the framework's public `ipc.InferenceExecutor` and answers the
 * model's requests with the same native model the framework's runner loads
 * (@livekit/local-inference, weights inside the npm package).
 */
import { createRequire } from 'node:module';
import type { ipc } from '@livekit/agents';

/** The method the framework's TurnDetector asks for (@livekit/agents 1.9.0, inference/eot/runner.ts). */
export const EOT_INFERENCE_METHOD = 'lk_eot_audio';

interface LocalInference {
  predict(pcm: Int16Array): Promise<number>;
  initEot(): void;
}

let native: LocalInference | undefined;

/** The native model, loaded once per process (about 0.3-1.2 s and 110 MB the first time). */
function localInference(): LocalInference {
  native ??= createRequire(import.meta.url)('@livekit/local-inference') as LocalInference;
  native.initEot();
  return native;
}

export class InProcessEotExecutor implements ipc.InferenceExecutor {
  readonly #model = localInference();

  async doInference(method: string, data: unknown): Promise<unknown> {
    if (method !== EOT_INFERENCE_METHOD) {
      throw new Error(
        `in-process inference: unknown method ${method} (allowed: ${EOT_INFERENCE_METHOD})`,
      );
    }
    // The framework sends base64 s16le PCM at 16 kHz, up to 1.2 s (its transport's request shape).
    const bytes = Buffer.from((data as { pcm: string }).pcm, 'base64');
    const pcm = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
    const startedAt = performance.now();
    const probability = await this.#model.predict(pcm);
    return { probability, inferenceDurationMs: performance.now() - startedAt };
  }
}
