import { describe, expect, it } from 'vitest';
import { stunCrypto } from '../../relay/platform-crypto.ts';
import type { TransportAddress } from '../../src/net/address.ts';
import { encodeAddress, encodeErrorCode, encodeXorAddress } from '../../src/stun/attributes.ts';
import { Attr, MessageClass, Method } from '../../src/stun/constants.ts';
import {
  agreeOnAddress,
  type BindingAnswer,
  bindingRequest,
  readBindingAnswer,
  retransmitOffsets,
} from '../../src/stun/discovery.ts';
import { checkFingerprint, decodeMessage, encodeMessage } from '../../src/stun/message.ts';

const TID = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
const OTHER = new Uint8Array(12).fill(9);
const NAT: TransportAddress = { family: 4, address: '203.0.113.77', port: 40000 };

const response = (
  cls: MessageClass,
  attrs: [number, Uint8Array][],
  tid = TID,
  method: number = Method.Binding,
) => encodeMessage(method, cls, tid, attrs);
const mapped = (address: string, family: 4 | 6 = 4): BindingAnswer => ({
  kind: 'mapped',
  address: { family, address, port: 1 },
});

describe('STUN discovery of the external address', () => {
  it('sends a Binding request with the transaction id and a valid FINGERPRINT (RFC 8489 §6.1, §14.7)', () => {
    const r = decodeMessage(bindingRequest(TID, stunCrypto));
    if (!r.ok) throw new Error(r.error);
    expect(r.message).toMatchObject({ method: Method.Binding, cls: MessageClass.Request });
    expect([...r.message.transactionId]).toEqual([...TID]);
    expect(checkFingerprint(r.message, stunCrypto)).toBe(true);
  });

  it('reads XOR-MAPPED-ADDRESS, IPv4 and IPv6, and MAPPED-ADDRESS from older servers', () => {
    const v6: TransportAddress = { family: 6, address: '2001:db8::77', port: 3478 };
    expect(
      readBindingAnswer(
        response(MessageClass.SuccessResponse, [[Attr.XorMappedAddress, encodeXorAddress(NAT, TID)]]),
        TID,
      ),
    ).toEqual({ kind: 'mapped', address: NAT });
    expect(
      readBindingAnswer(
        response(MessageClass.SuccessResponse, [[Attr.XorMappedAddress, encodeXorAddress(v6, TID)]]),
        TID,
      ),
    ).toEqual({ kind: 'mapped', address: v6 });
    expect(
      readBindingAnswer(
        response(MessageClass.SuccessResponse, [[Attr.MappedAddress, encodeAddress(NAT)]]),
        TID,
      ),
    ).toEqual({ kind: 'mapped', address: NAT });
  });

  it('ignores what is not the answer to its request, and says why an answer is unusable', () => {
    const ok = [[Attr.XorMappedAddress, encodeXorAddress(NAT, OTHER)]] as [number, Uint8Array][];
    expect(readBindingAnswer(response(MessageClass.SuccessResponse, ok, OTHER), TID)).toEqual({
      kind: 'other',
    });
    expect(readBindingAnswer(response(MessageClass.SuccessResponse, [], TID, Method.Allocate), TID)).toEqual({
      kind: 'other',
    });
    expect(readBindingAnswer(bindingRequest(TID, stunCrypto), TID)).toEqual({ kind: 'other' });
    expect(readBindingAnswer(new Uint8Array([0, 1, 0]), TID)).toEqual({ kind: 'other' });
    expect(
      readBindingAnswer(response(MessageClass.ErrorResponse, [[Attr.ErrorCode, encodeErrorCode(400)]]), TID),
    ).toEqual({
      kind: 'error',
      reason: 'error 400 Bad Request',
    });
    expect(readBindingAnswer(response(MessageClass.SuccessResponse, []), TID)).toEqual({
      kind: 'error',
      reason: 'no XOR-MAPPED-ADDRESS in the response',
    });
    expect(
      readBindingAnswer(
        response(MessageClass.SuccessResponse, [[Attr.XorMappedAddress, new Uint8Array([0, 1, 0])]]),
        TID,
      ),
    ).toEqual({ kind: 'error', reason: 'bad XOR-MAPPED-ADDRESS (ERR_ATTR_LENGTH)' });
  });

  it('retransmits at RTO, then doubling intervals, at most 7 sends, within the deadline (RFC 8489 §6.2.1)', () => {
    expect(retransmitOffsets(500, 5000)).toEqual([0, 500, 1500, 3500]);
    expect(retransmitOffsets(500, 1000)).toEqual([0, 500]);
    expect(retransmitOffsets(100, 60_000)).toEqual([0, 100, 300, 700, 1500, 3100, 6300]);
    expect(retransmitOffsets(500, 0)).toEqual([]);
  });

  it('takes the address all answers agree on and names the silent servers', () => {
    expect(
      agreeOnAddress(4, [
        { server: 'a:1', answer: mapped('203.0.113.77') },
        { server: 'b:1', answer: { kind: 'mapped', address: NAT } },
        { server: 'c:1', answer: undefined },
      ]),
    ).toEqual({ ok: true, address: '203.0.113.77', silent: ['c:1'] });
  });

  it.each<[string, 4 | 6, { server: string; answer: BindingAnswer | undefined }[], string]>([
    [
      'disagreeing servers',
      4,
      [
        { server: 'a:1', answer: mapped('203.0.113.77') },
        { server: 'b:1', answer: mapped('198.51.100.2') },
      ],
      'STUN servers disagree on the IPv4 address: a:1 says 203.0.113.77, b:1 says 198.51.100.2',
    ],
    [
      'silence from all',
      4,
      [
        { server: 'a:1', answer: undefined },
        { server: 'b:1', answer: undefined },
      ],
      'no IPv4 address learned: no answer from a:1, b:1',
    ],
    [
      'an error beside silence',
      4,
      [
        { server: 'a:1', answer: { kind: 'error', reason: 'error 400 Bad Request' } },
        { server: 'b:1', answer: undefined },
      ],
      'no IPv4 address learned: a:1 answered error 400 Bad Request; no answer from b:1',
    ],
    [
      'an error beside an answer',
      4,
      [
        { server: 'a:1', answer: mapped('203.0.113.77') },
        { server: 'b:1', answer: { kind: 'error', reason: 'no XOR-MAPPED-ADDRESS in the response' } },
      ],
      'b:1 answered no XOR-MAPPED-ADDRESS in the response',
    ],
    [
      'the wrong family',
      6,
      [{ server: '[::1]:1', answer: mapped('203.0.113.77') }],
      'no IPv6 address learned: [::1]:1 answered an IPv4 address for IPv6',
    ],
    [
      'an unspecified address',
      4,
      [{ server: 'a:1', answer: mapped('0.0.0.0') }],
      'no IPv4 address learned: a:1 answered 0.0.0.0, which no peer can reach',
    ],
  ])('refuses %s', (_what, family, answers, error) => {
    expect(agreeOnAddress(family, answers)).toEqual({ ok: false, error });
  });
});
