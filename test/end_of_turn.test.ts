/**
 * Which end-of-turn model runs with TURN_DETECTION=livekit (src/turn_detection/end_of_turn.ts):
 * the plugin's multilingual model when its files are downloaded and the call is a worker job,
 * else v1-mini; and v1-mini's inference in this process on our speech fixtures.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InferenceRunner } from '@livekit/agents';
import { afterEach, describe, expect, it } from 'vitest';
import {
  chooseEndOfTurnModel,
  multilingualModelFiles,
  registerEndOfTurnPlugin,
} from '../src/turn_detection/end_of_turn.ts';
import { EOT_INFERENCE_METHOD, InProcessEotExecutor } from '../src/turn_detection/local_eot.ts';
import { speechFixture } from './support/call_harness.ts';

/** The name @livekit/agents-plugin-livekit 1.9.0 registers its multilingual model under. */
const MULTILINGUAL_METHOD = 'lk_end_of_utterance_multilingual';

let home: string | undefined;
afterEach(() => {
  if (home) rmSync(home, { recursive: true, force: true });
  home = undefined;
});

/** A home whose Hugging Face cache holds the files `download-files` leaves (empty stand-ins). */
function homeWithModel(files = ['onnx/model_q8.onnx', 'languages.json']): string {
  home = mkdtempSync(path.join(tmpdir(), 'eot-home-'));
  const repo = path.join(home, '.cache/huggingface/hub/models--livekit--turn-detector');
  const commit = 'a'.repeat(40);
  mkdirSync(path.join(repo, 'refs'), { recursive: true });
  writeFileSync(path.join(repo, 'refs', 'v0.4.1-intl'), `${commit}\n`);
  for (const file of files) {
    const at = path.join(repo, 'snapshots', commit, file);
    mkdirSync(path.dirname(at), { recursive: true });
    writeFileSync(at, '');
  }
  return home;
}

describe('choosing the end-of-turn model', () => {
  it('multilingual in a job when its files are downloaded, v1-mini otherwise, with the reason', () => {
    const downloaded = homeWithModel();
    expect(chooseEndOfTurnModel(true, downloaded)).toEqual({
      model: 'multilingual',
      why: expect.stringContaining('its files are in'),
    });
    expect(chooseEndOfTurnModel(false, downloaded)).toEqual({
      model: 'v1-mini',
      why: "outside a worker job (the multilingual model runs in the worker's inference process)",
    });
  });

  it('v1-mini without the files, naming what is missing and how to get it', () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'eot-home-'));
    home = empty;
    const choice = chooseEndOfTurnModel(true, empty);
    expect(choice.model).toBe('v1-mini');
    expect(choice.why).toMatch(/no v0\.4\.1-intl model in .*models--livekit--turn-detector/);
    expect(choice.why).toContain('npx livekit-agents download-files');
  });

  it('a half download (no languages.json) counts as missing', () => {
    const half = homeWithModel(['onnx/model_q8.onnx']);
    expect(multilingualModelFiles(half)).toEqual({
      missing: expect.stringMatching(/^languages\.json missing in /),
    });
  });

  it('the worker loads the plugin, registering its model, only when the files are there', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'eot-home-'));
    // Without them the worker's inference process, which loads every registered model, would fail.
    expect(await registerEndOfTurnPlugin(empty)).toBe(false);
    expect(InferenceRunner.registeredRunners).not.toHaveProperty(MULTILINGUAL_METHOD);
    rmSync(empty, { recursive: true });
    expect(await registerEndOfTurnPlugin(homeWithModel())).toBe(true);
    expect(InferenceRunner.registeredRunners).toHaveProperty(MULTILINGUAL_METHOD);
  });
});

describe('v1-mini in this process, on speech', () => {
  const executor = new InProcessEotExecutor();
  /**
   * The model's view of a pause as the framework asks (at 200 ms of silence by its VAD): the last
   * 1.2 s of `fixture`'s speech and `silenceMs` of silence after it.
   */
  const predict = async (fixture: string, silenceMs = 250) => {
    const samples = speechFixture(fixture);
    let end = samples.length;
    while (end > 0 && Math.abs(samples[end - 1]!) < 300) end--;
    const pcm = new Int16Array(end + (silenceMs * 16_000) / 1000);
    pcm.set(samples.subarray(0, end));
    const window = pcm.subarray(Math.max(0, pcm.length - 19_200));
    const pcmBase64 = Buffer.from(window.buffer, window.byteOffset, window.byteLength).toString(
      'base64',
    );
    return (await executor.doInference(EOT_INFERENCE_METHOD, { pcm: pcmBase64 })) as {
      probability: number;
      inferenceDurationMs: number;
    };
  };

  it('rates a finished question above the English threshold, a sentence cut mid-way below', async () => {
    const threshold = 0.36; // @livekit/agents 1.9.0 LOCAL_LANGUAGES.en
    const finished = await predict('finished.wav');
    const unfinished = await predict('unfinished.wav');
    expect(finished.probability).toBeGreaterThan(threshold);
    expect(unfinished.probability).toBeLessThan(threshold);
    expect(finished.inferenceDurationMs).toBeGreaterThan(0);
  });

  it('refuses a method it does not run', async () => {
    await expect(executor.doInference('lk_end_of_utterance_multilingual', {})).rejects.toThrow(
      'in-process inference: unknown method lk_end_of_utterance_multilingual (allowed: lk_eot_audio)',
    );
  });
});
