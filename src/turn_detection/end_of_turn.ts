/**
 * Which end-of-turn model decides, with TURN_DETECTION=livekit, that the user has finished:
 *
 * - `multilingual`: @livekit/agents-plugin-livekit's text model (it reads the STT transcript and
 *   the conversation), when its files were downloaded (`npx livekit-agents download-files`, as the
 *   Dockerfile does) and the call runs in a worker job. It runs in the worker's shared inference
 *   process, which loads it at start; without its files that process would fail to start, so the
 *   plugin is only loaded when they are there.
 * - `v1-mini`: LiveKit's audio model in @livekit/agents (weights inside @livekit/local-inference),
 *   otherwise: in the shared inference process in a job, in this process outside one.
 *
 * One log line per call says which runs and why.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { type ipc, getJobContext, inference, log } from '@livekit/agents';
// Types only: importing the plugin itself registers its model with the worker (see below).
import type { turnDetector } from '@livekit/agents-plugin-livekit';
import { InProcessEotExecutor } from './local_eot.ts';

/** Where @livekit/agents-plugin-livekit 1.9.0 keeps its multilingual model (hf_utils, constants). */
const HUB_REPO_DIR = 'models--livekit--turn-detector';
const MULTILINGUAL_REVISION = 'v0.4.1-intl';
const MULTILINGUAL_FILES = ['onnx/model_q8.onnx', 'languages.json'];

export interface EndOfTurnChoice {
  model: 'multilingual' | 'v1-mini';
  why: string;
}

/**
 * The multilingual model's files in the Hugging Face cache the plugin reads (under the user's
 * home, as the plugin looks for them), or why they are not there.
 */
export function multilingualModelFiles(home = homedir()): { dir: string } | { missing: string } {
  const repo = path.join(home, '.cache', 'huggingface', 'hub', HUB_REPO_DIR);
  const ref = path.join(repo, 'refs', MULTILINGUAL_REVISION);
  if (!existsSync(ref)) return { missing: `no ${MULTILINGUAL_REVISION} model in ${repo}` };
  const dir = path.join(repo, 'snapshots', readFileSync(ref, 'utf8').trim());
  const absent = MULTILINGUAL_FILES.find((file) => !existsSync(path.join(dir, file)));
  return absent ? { missing: `${absent} missing in ${dir}` } : { dir };
}

/** The model a call would use, and why (`inJob`: the call runs in a worker job). */
export function chooseEndOfTurnModel(inJob: boolean, home = homedir()): EndOfTurnChoice {
  const files = multilingualModelFiles(home);
  if ('missing' in files) {
    return {
      model: 'v1-mini',
      why: `the multilingual model's files are not downloaded (${files.missing}; npx livekit-agents download-files fetches them)`,
    };
  }
  if (!inJob) {
    return {
      model: 'v1-mini',
      why: "outside a worker job (the multilingual model runs in the worker's inference process)",
    };
  }
  return { model: 'multilingual', why: `its files are in ${files.dir}` };
}

/**
 * The worker's main process, before it starts: load the plugin when its files are there, so the
 * worker's inference process loads the multilingual model too (the plugin registers it on import).
 */
export async function registerEndOfTurnPlugin(home = homedir()): Promise<boolean> {
  if ('missing' in multilingualModelFiles(home)) return false;
  await import('@livekit/agents-plugin-livekit');
  return true;
}

/** The end-of-turn model for one call, and the log line that says which and why. */
export async function endOfTurnModel(): Promise<
  inference.TurnDetector | turnDetector.MultilingualModel
> {
  const job = getJobContext(false);
  const choice = chooseEndOfTurnModel(job !== undefined);
  log().info({ model: choice.model, why: choice.why }, 'end-of-turn model');
  if (choice.model === 'multilingual') {
    const plugin = await import('@livekit/agents-plugin-livekit');
    return new plugin.turnDetector.MultilingualModel();
  }
  const executor: ipc.InferenceExecutor = job?.inferenceExecutor ?? new InProcessEotExecutor();
  return new inference.TurnDetector({ version: 'v1-mini', executor });
}
