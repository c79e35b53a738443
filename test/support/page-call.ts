/**
 * The in-page half of a browser call for e2e tests: plain browser JavaScript injected with
 * `page.addInitScript({ content: pageCallScript(extra) })`, one relay-only RTCPeerConnection and
 * a data channel, with the signalling carried by the test (offer, answer, accept return and take
 * descriptions with every candidate, after gathering). Each test adds what it needs (`extra`: more
 * members of the same object, such as `init` or `configure`, which set `this.pc`).
 */

/** A session description with every candidate, as the page hands it to the test. */
export interface Description {
  type: string;
  sdp: string;
}

/** The members every page call has (see CALL_MEMBERS). */
export interface PageCallCore {
  offer(): Promise<Description>;
  answer(offer: Description): Promise<Description>;
  accept(answer: Description): Promise<void>;
  send(message: string): void;
  isOpen(): boolean;
  readonly received: string[];
}

const CALL_MEMBERS = `
  received: [],
  wire(dc) {
    this.dc = dc;
    dc.onmessage = (e) => this.received.push(String(e.data));
  },
  async gathered() {
    const pc = this.pc;
    if (pc.iceGatheringState !== 'complete') {
      await new Promise((resolve) =>
        pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve()));
    }
    return pc.localDescription.toJSON();
  },
  async offer() {
    this.wire(this.pc.createDataChannel('chat'));
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return this.gathered();
  },
  async answer(offer) {
    await this.pc.setRemoteDescription(offer);
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    return this.gathered();
  },
  async accept(answer) { await this.pc.setRemoteDescription(answer); },
  send(message) { this.dc.send(message); },
  isOpen() { return this.dc !== undefined && this.dc.readyState === 'open'; },`;

/** The script that defines `window.call()` on the page: the shared members plus `extra`. */
export function pageCallScript(extra: string): string {
  return `const api = {${CALL_MEMBERS}\n${extra}\n};\nwindow.call = () => api;`;
}

/** `init(iceServers)` for tests that hand the page its iceServers themselves. */
export const INIT_MEMBER = `
  init(iceServers) {
    this.pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: 'relay' });
    this.pc.ondatachannel = (e) => this.wire(e.channel);
  },`;
