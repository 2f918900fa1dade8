/**
 * One model turn as it streams in: the message, text, audio and function-call streams the
 * framework reads (`llm.GenerationCreatedEvent`), and what the turn said so far.
 */
import type { llm } from '@livekit/agents';
import { shortuuid, stream } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';

export class Generation {
  readonly responseId = shortuuid('GR_');
  /** The id of the user message this turn answers (its transcript). */
  readonly inputId = shortuuid('GI_');
  readonly createdAt = Date.now();
  firstOutputAt?: number;
  completedAt?: number;
  inputTranscription = '';
  outputText = '';
  done = false;
  readonly #messages = stream.createStreamChannel<llm.MessageGeneration>();
  readonly #functions = stream.createStreamChannel<llm.FunctionCall>();
  readonly #text = stream.createStreamChannel<string>();
  readonly #audio = stream.createStreamChannel<AudioFrame>();

  constructor(audioOutput: boolean) {
    if (!audioOutput) ignore(this.#audio.close());
    ignore(
      this.#messages.write({
        messageId: this.responseId,
        textStream: this.#text.stream(),
        audioStream: this.#audio.stream(),
        modalities: Promise.resolve(audioOutput ? ['audio', 'text'] : ['text']),
      }),
    );
  }

  /** The event that hands this turn to the framework. */
  createdEvent(userInitiated: boolean): llm.GenerationCreatedEvent {
    return {
      messageStream: this.#messages.stream(),
      functionStream: this.#functions.stream(),
      userInitiated,
      responseId: this.responseId,
    };
  }

  /** The model produced audio or text in this turn. */
  get hasOutput(): boolean {
    return this.firstOutputAt !== undefined || this.outputText !== '';
  }

  get functionsOpen(): boolean {
    return !this.#functions.closed;
  }

  pushAudio(frame: AudioFrame): void {
    this.firstOutputAt ??= Date.now();
    if (!this.#audio.closed) ignore(this.#audio.write(frame));
  }

  pushText(text: string): void {
    this.outputText += text;
    if (!this.#text.closed) ignore(this.#text.write(text));
  }

  /** A transcript of the user's words; returns the whole transcript so far. */
  addInputTranscript(text: string): string {
    this.inputTranscription += this.inputTranscription === '' ? text.trimStart() : text;
    return this.inputTranscription;
  }

  pushFunctionCall(call: llm.FunctionCall): void {
    if (!this.#functions.closed) ignore(this.#functions.write(call));
  }

  /**
   * Close the streams. `endText`: write an empty text piece first, which ends the framework's
   * transcript synchronizer when no output transcription arrives.
   */
  finish(endText: boolean): void {
    if (this.done) return;
    this.done = true;
    if (endText && !this.#text.closed) ignore(this.#text.write(''));
    for (const channel of [this.#text, this.#audio, this.#functions, this.#messages]) {
      ignore(channel.close());
    }
  }
}

/**
 * Channel writes resolve when the framework reads them and reject if it stopped reading (an
 * interrupted reply): either way nothing waits on them, and a rejection is not an error.
 */
function ignore(pending: Promise<unknown>): void {
  pending.catch(() => undefined);
}
