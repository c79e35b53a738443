// A two-party call on the built SDK alone (@relay-backbone/sdk, mapped to /sdk/index.js by the
// page's import map). Each tab asks the edge for iceServers, finds the other tab of the same room
// through a BroadcastChannel (the signalling: offers, answers and candidates), and opens a
// relay-only RTCPeerConnection with a data channel. keepFresh renews the TURN credentials before
// they expire and restarts ICE when the edge moves the call to another relay; the page follows
// the "perfect negotiation" pattern, so such a restart renegotiates by itself.
import { EdgeError, getRtcConfiguration, keepFresh } from '@relay-backbone/sdk';

const $ = (id) => document.getElementById(id);
const me = crypto.getRandomValues(new Uint32Array(2)).join('-');
/** What the page knows, for people and for the e2e test (test/e2e/sdk-example.test.ts). */
const state = { me, peer: undefined, relay: undefined, path: undefined, received: [], renewals: 0 };
window.twoParty = state;

let channel;
let pc;
let dc;
let stopFresh;
let polite = false;
let makingOffer = false;
let helloTimer;
let ignoreOffer = false;

function log(line) {
  $('log').textContent += `${new Date().toLocaleTimeString()} ${line}\n`;
}
function status(text) {
  $('status').textContent = text;
}
function signal(message) {
  channel.postMessage({ ...message, from: me, to: state.peer });
}

async function join() {
  const room = $('room').value.trim() || 'demo';
  $('join').disabled = true;
  status('asking the edge');
  // The local stack needs no key; in production pass a client token (POST /v1/tokens) as apiKey.
  const options = { edgeUrl: location.origin, room, user: `tab-${me}`, relayOnly: true, budgetMs: 2000 };
  let fresh;
  try {
    fresh = await getRtcConfiguration(options);
  } catch (err) {
    const why =
      err instanceof EdgeError ? `${err.code}${err.status ? ` ${err.status}` : ''}: ${err.message}` : err;
    status('failed');
    log(`the edge said no: ${why}`);
    $('join').disabled = false;
    return;
  }
  state.relay = fresh.relay.id;
  log(
    `relay ${fresh.relay.id} (${fresh.relay.basis}, ~${fresh.relay.predictedRttMs} ms), credentials until ${new Date(fresh.expiresAt * 1000).toLocaleTimeString()}`,
  );

  pc = new RTCPeerConnection(fresh.configuration);
  dc = pc.createDataChannel('chat', { negotiated: true, id: 0 });
  dc.onopen = () => {
    $('message').disabled = false;
    $('send').disabled = false;
    log('data channel open');
    void showPath();
  };
  dc.onmessage = (e) => {
    state.received.push(String(e.data));
    log(`them: ${e.data}`);
  };
  pc.onconnectionstatechange = () => {
    status(pc.connectionState);
    if (pc.connectionState === 'connected') void showPath();
  };
  stopFresh = keepFresh(pc, {
    ...options,
    current: fresh,
    onRenewed: (r) => {
      state.renewals++;
      state.relay = r.result.relay.id;
      log(`credentials renewed on ${r.result.relay.id}${r.restarted ? ', ICE restarted' : ''}`);
    },
    onError: (err) => log(`renewal failed, will retry: ${err.message}`),
  });

  channel = new BroadcastChannel(`two-party:${room}`);
  // One message at a time, in order: a candidate must not overtake the description before it.
  let queue = Promise.resolve();
  channel.onmessage = (e) => {
    queue = queue.then(() => onSignal(e.data)).catch((err) => log(`signalling failed: ${err.message}`));
  };
  channel.postMessage({ type: 'hello', from: me });
  // Say hello again each second until paired: a tab that joined while ours was still asking the
  // edge has heard nothing from us yet.
  helloTimer = setInterval(() => {
    if (state.peer === undefined) channel?.postMessage({ type: 'hello', from: me });
    else clearInterval(helloTimer);
  }, 1000);
  status('waiting for the other tab');
  $('hangup').disabled = false;
}

/** Pairs with the first other tab that says hello, then negotiates (only after pairing). */
async function onSignal(m) {
  if (m.from === me || (m.to !== undefined && m.to !== me)) return;
  if (m.type === 'hello') {
    if (state.peer !== undefined) return;
    state.peer = m.from;
    polite = me > m.from;
    clearInterval(helloTimer);
    status('negotiating');
    if (m.to === undefined) signal({ type: 'hello' });
    log(`paired with tab ${m.from}`);
    pc.onicecandidate = ({ candidate }) =>
      signal({ type: 'candidate', candidate: candidate?.toJSON() ?? null });
    pc.onnegotiationneeded = async () => {
      try {
        makingOffer = true;
        await pc.setLocalDescription();
        signal({ type: 'description', description: pc.localDescription.toJSON() });
      } finally {
        makingOffer = false;
      }
    };
    // The data channel was made before pairing: negotiate now. Only the impolite tab makes the
    // first offer, so the two never start with crossed offers.
    if (!polite && pc.signalingState === 'stable' && !pc.remoteDescription) await pc.onnegotiationneeded();
    return;
  }
  if (m.from !== state.peer) return;
  if (m.type === 'description') {
    const d = m.description;
    const collision = d.type === 'offer' && (makingOffer || pc.signalingState !== 'stable');
    ignoreOffer = !polite && collision;
    if (ignoreOffer) return;
    await pc.setRemoteDescription(d);
    if (d.type === 'offer') {
      await pc.setLocalDescription();
      signal({ type: 'description', description: pc.localDescription.toJSON() });
    }
  } else if (m.type === 'candidate' && m.candidate) {
    try {
      await pc.addIceCandidate(m.candidate);
    } catch (err) {
      if (!ignoreOffer) log(`candidate refused: ${err.message}`);
    }
  } else if (m.type === 'bye') {
    log('the other tab hung up');
    hangup();
  }
}

/** Which candidates the call runs on: a relay candidate on our side means it goes through TURN. */
async function showPath() {
  const stats = await pc.getStats();
  let pair;
  for (const s of stats.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  }
  if (!pair) return;
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  state.path = { local: local?.candidateType, remote: remote?.candidateType, url: local?.url };
  $('path').textContent = `(${local?.candidateType} to ${remote?.candidateType} via ${state.relay})`;
}

function send() {
  const text = $('message').value;
  if (!text || dc?.readyState !== 'open') return;
  dc.send(text);
  log(`me: ${text}`);
  $('message').value = '';
}

function hangup() {
  if (state.peer !== undefined && channel) signal({ type: 'bye' });
  clearInterval(helloTimer);
  stopFresh?.();
  pc?.close();
  channel?.close();
  pc = undefined;
  channel = undefined;
  state.peer = undefined;
  status('not joined');
  $('path').textContent = '';
  $('join').disabled = false;
  $('hangup').disabled = true;
  $('message').disabled = true;
  $('send').disabled = true;
}

$('room').value = new URLSearchParams(location.search).get('room') ?? 'demo';
$('join').onclick = () => void join();
$('hangup').onclick = hangup;
$('send').onclick = send;
$('message').onkeydown = (e) => e.key === 'Enter' && send();
