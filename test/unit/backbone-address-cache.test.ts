/**
 * The backbone core's address caches (src/backbone/address-cache.ts): the bytes of IP literals
 * packets are routed between, and the source literal and relayed addressKey of frames delivered,
 * each the same as computed afresh, for IPv4 and IPv6, before and after a cache starts again.
 */
import { describe, expect, it } from 'vitest';
import { ADDRESS_CACHE_LIMIT, AddressCache } from '../../src/backbone/address-cache.ts';
import { addressKey } from '../../src/net/address.ts';
import { formatIp, parseIp } from '../../src/net/ip.ts';

const v4 = (n: number) => new Uint8Array([10, (n >> 16) & 255, (n >> 8) & 255, n & 255]);

describe('AddressCache', () => {
  it('gives the bytes of IPv4 and IPv6 literals, and null for what is not one, the same when asked again', () => {
    const cache = new AddressCache();
    for (const ip of ['10.1.0.1', '2001:db8::1', '::ffff:10.0.0.1']) {
      expect(cache.bytesOf(ip)).toEqual(parseIp(ip));
      expect(cache.bytesOf(ip)).toEqual(parseIp(ip));
    }
    expect(cache.bytesOf('relay.example')).toBeNull();
    expect(cache.bytesOf('relay.example')).toBeNull();
  });

  it('gives the literal of a frame address, IPv4 from the cache and IPv6 afresh', () => {
    const cache = new AddressCache();
    expect(cache.textOf(new Uint8Array([192, 0, 2, 7]))).toBe('192.0.2.7');
    expect(cache.textOf(new Uint8Array([192, 0, 2, 7]))).toBe('192.0.2.7');
    expect(cache.textOf(new Uint8Array([192, 0, 2, 8]))).toBe('192.0.2.8');
    expect(cache.textOf(new Uint8Array([10, 0, 2, 7]))).toBe('10.0.2.7');
    const v6 = parseIp('2001:db8::7')!;
    expect(cache.textOf(v6)).toBe('2001:db8::7');
  });

  it('gives the addressKey of a relayed address, one per address and port, never another one from the cache', () => {
    const cache = new AddressCache();
    // Address and port share one number as the key: neighbours in either must not meet.
    const ips = [
      [10, 0, 0, 1],
      [10, 0, 0, 2],
      [10, 0, 1, 1],
      [0, 0, 0, 0],
      [255, 255, 255, 255],
    ];
    const ports = [0, 1, 255, 256, 32767, 32768, 65535];
    for (let round = 0; round < 2; round++)
      for (const bytes of ips)
        for (const port of ports) {
          const ip = new Uint8Array(bytes);
          expect(cache.relayedKey(ip, port)).toBe(addressKey({ family: 4, address: formatIp(ip), port }));
        }
    const v6 = parseIp('2001:db8::9')!;
    expect(cache.relayedKey(v6, 50000)).toBe('[2001:db8::9]:50000');
  });

  it('stays right past its limit, when each cache starts again', () => {
    const cache = new AddressCache();
    const n = ADDRESS_CACHE_LIMIT * 2 + 3;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < n; i++) {
        const ip = v4(i);
        const text = formatIp(ip);
        expect(cache.textOf(ip)).toBe(text);
        expect(cache.relayedKey(ip, i & 0xffff)).toBe(`${text}:${i & 0xffff}`);
        expect(cache.bytesOf(text)).toEqual(ip);
      }
    }
  });
});
