/**
 * How the fake speech recognisers (the fake Deepgram, the fake Gemini's transcription model)
 * reveal a scripted transcript while the user speaks: they have no ASR, so a test scripts the text
 * of each spoken segment and the fakes show it word by word as the audio comes in.
 */

/** Interim results show about one more word per this much speech (speech at ~150 words/min). */
export const MS_PER_HEARD_WORD = 300;

/** What an interim result says after `speechMs` of a segment whose final text is `text`. */
export function interimText(text: string, speechMs: number): string {
  const words = text.split(/\s+/).filter((w) => w.length > 0);
  // Never the whole text before the end: the final result is what completes it.
  const heard = Math.min(words.length - 1, Math.floor(speechMs / MS_PER_HEARD_WORD));
  return words.slice(0, Math.max(0, heard)).join(' ');
}

/** A segment's text for the scripted recognisers: index of the segment in the stream, and its length so far. */
export type ScriptedTranscript = (info: { segmentIndex: number; speechMs: number }) => string;
