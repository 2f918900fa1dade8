/**
 * Works around livekit/agents-js#1462 (open; present in @livekit/agents 1.9.0): the framework's
 * AudioRecognition tees the microphone into a VAD branch and an STT branch even when the call has
 * neither (a realtime model doing its own turn detection: TURN_DETECTION=gemini, our default).
 * Nothing reads those branches, so every microphone frame of the call stays queued in memory until
 * the call ends: in `npm run soak -- --long` the heap grew ~1 MB and RSS ~3.5 MB a minute.
 *
 * `drainUnusedRecognitionInput(agent)` reads and drops what reaches a branch that has no consumer,
 * once the agent's activity has started. With Silero VAD and Deepgram STT (TURN_DETECTION=livekit)
 * both branches have readers and nothing is touched. Not for sessions that attach an STT or VAD
 * later (agents' updateStt/updateVad): a drained branch cannot be read again.
 */
import type { AudioFrame } from '@livekit/rtc-node';
import { log, type voice } from '@livekit/agents';

/** The parts of the framework's AudioRecognition this reads (private in 1.9.0). */
interface RecognitionInternals {
  vad?: unknown;
  stt?: unknown;
  vadInputStream?: ReadableStream<AudioFrame>;
  sttInputStream?: ReadableStream<AudioFrame>;
}

function recognitionOf(agent: voice.Agent): RecognitionInternals | undefined {
  const activity = (agent as unknown as { _agentActivity?: { audioRecognition?: unknown } })
    ._agentActivity;
  return activity?.audioRecognition as RecognitionInternals | undefined;
}

async function discard(stream: ReadableStream<AudioFrame>): Promise<void> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done } = await reader.read();
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Start draining the recognition branches no consumer reads; returns which ones. Call after the
 * agent's activity started (in `onEnter`).
 */
export function drainUnusedRecognitionInput(agent: voice.Agent): ('vad' | 'stt')[] {
  const recognition = recognitionOf(agent);
  if (!recognition) return [];
  const branches = [
    { name: 'vad' as const, consumer: recognition.vad, stream: recognition.vadInputStream },
    { name: 'stt' as const, consumer: recognition.stt, stream: recognition.sttInputStream },
  ];
  const drained: ('vad' | 'stt')[] = [];
  for (const { name, consumer, stream } of branches) {
    if (consumer || !stream || stream.locked) continue;
    discard(stream).catch((error) =>
      log().debug({ error, branch: name }, 'unused recognition input: drain ended'),
    );
    drained.push(name);
  }
  return drained;
}
