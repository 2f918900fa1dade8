// The demo page: start a session through this service's LiveAvatar-style API, join the room it
// returns with livekit-client, show the agent's video and transcript, keep the session alive,
// stop it. Plain browser JavaScript; livekit-client is the only library (window.LivekitClient).
'use strict';

const { Room, RoomEvent, Track } = window.LivekitClient;

/**
 * Keep-alive period while joined (the session API may end idle sessions; see
 * docs/coming-from-liveavatar.md).
 */
const KEEP_ALIVE_MS = 60_000;
const TRANSCRIPTION_TOPIC = 'lk.transcription';

const $ = (id) => document.getElementById(id);
const form = $('session-form');
const startButton = $('start');
const stopButton = $('stop');
const statusLine = $('status');
const transcript = $('transcript');

/** The current session: its token, its room and its keep-alive timer. */
let current = null;

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', isError);
}

/** Call the session API; resolves to `data`, or throws with the API's one-line message. */
async function api(path, headers, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : body,
  });
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (!response.ok || !answer || answer.code !== 1000) {
    throw new Error(answer?.message ?? `${path} answered ${response.status}`);
  }
  return answer.data;
}

function showSession(session) {
  $('session-id').textContent = session.session_id;
  $('livekit-url').textContent = session.livekit_url;
  $('max-duration').textContent = `${session.max_session_duration} s`;
  $('session-info').hidden = false;
}

/** One transcript line per segment, updated as its text streams in. */
async function onTranscription(reader, participant, localIdentity) {
  const segment = reader.info.attributes?.['lk.segment_id'] ?? reader.info.id;
  let line = transcript.querySelector(`li[data-segment="${CSS.escape(segment)}"]`);
  if (!line) {
    line = document.createElement('li');
    line.dataset.segment = segment;
    line.dataset.speaker = participant.identity === localIdentity ? 'user' : 'agent';
    transcript.append(line);
  }
  for await (const chunk of reader) line.textContent += chunk;
}

function attachTrack(track) {
  if (track.kind === Track.Kind.Video) {
    track.attach($('video'));
  } else if (track.kind === Track.Kind.Audio) {
    $('audio').append(track.attach());
  }
}

async function join(session) {
  const room = new Room({ adaptiveStream: true, dynacast: true });
  current.room = room;
  room.on(RoomEvent.TrackSubscribed, (track) => attachTrack(track));
  room.on(RoomEvent.TrackUnsubscribed, (track) => track.detach().forEach((el) => el.remove()));
  room.on(RoomEvent.Disconnected, () => {
    // A failed connect also disconnects; start() reports that one.
    if (current?.room === room && current.joined) finish('Session ended.');
  });
  room.registerTextStreamHandler(TRANSCRIPTION_TOPIC, (reader, participant) => {
    onTranscription(reader, participant, room.localParticipant.identity).catch((error) =>
      console.warn('transcript stream failed', error),
    );
  });
  setStatus(`Joining ${session.livekit_url} ...`);
  await room.connect(session.livekit_url, session.livekit_client_token);
  current.joined = true;
  await room.localParticipant.setMicrophoneEnabled(true);
  setStatus('Connected: speak to the agent.');
  current.keepAlive = setInterval(() => {
    api('/v1/sessions/keep-alive', { authorization: `Bearer ${current.token}` }).catch((error) =>
      console.warn('keep-alive failed', error),
    );
  }, KEEP_ALIVE_MS);
}

function finish(text, isError = false) {
  if (current) {
    clearInterval(current.keepAlive);
    current.room?.disconnect();
  }
  current = null;
  startButton.disabled = false;
  stopButton.disabled = true;
  setStatus(text, isError);
}

async function start() {
  startButton.disabled = true;
  transcript.replaceChildren();
  setStatus('Creating a session token ...');
  try {
    const issued = await api(
      '/v1/sessions/token',
      { 'x-api-key': $('api-key').value.trim() },
      $('session-json').value,
    );
    current = { token: issued.session_token, room: null, joined: false, keepAlive: null };
    stopButton.disabled = false;
    setStatus('Starting the session ...');
    const session = await api('/v1/sessions/start', {
      authorization: `Bearer ${issued.session_token}`,
    });
    showSession(session);
    await join(session);
  } catch (error) {
    const stage = current?.room ? 'Could not join the room' : 'Could not start';
    const token = current?.token;
    finish(`${stage}: ${error.message}`, true);
    // A session that started but could not be joined is stopped, not left to time out.
    if (token) {
      api('/v1/sessions/stop', { authorization: `Bearer ${token}` }).catch(() => undefined);
    }
  }
}

async function stopSession() {
  const token = current?.token;
  finish('Stopping ...');
  try {
    if (token) await api('/v1/sessions/stop', { authorization: `Bearer ${token}` });
    setStatus('Session stopped.');
  } catch (error) {
    setStatus(`Could not stop: ${error.message}`, true);
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  void start();
});
stopButton.addEventListener('click', () => void stopSession());
