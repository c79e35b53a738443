/*
 * frame-mac: the backbone frame tag (docs/BACKBONE.md, "The tag") computed in C with the ChaCha20
 * and Poly1305 of the OpenSSL inside the running node binary, the same library node:crypto uses.
 * Nothing here hashes by hand: ChaCha20_ctr32, Poly1305_ctx_size/Init/Update/Final and
 * CRYPTO_memcmp are OpenSSL's, found at load time with dlsym(RTLD_DEFAULT) and checked once
 * against a tag node:crypto's chacha20-poly1305 computed. A node that does not export them still
 * loads this addon (native UDP I/O keeps working): macInfo() then says why the MAC is unavailable
 * and relay/frame-mac.ts falls back to node:crypto.
 *
 * The tag of a frame F (every byte before the tag) under a 32-byte run key K is the RFC 8439 AEAD
 * tag of ChaCha20-Poly1305 with K, the nonce N = F[12..18) || F[6..12) (the sender field, then the
 * 48-bit sequence number), F as the additional data with its hop-limit byte (offset 3) read as 0,
 * and no plaintext: Poly1305 under the one-time key ChaCha20(K, N, block 0)[0..32) over
 * F || zeros to 16 || le64(|F|) || le64(0). F is read where it lies (its first 4 bytes from a small
 * copy with the hop byte as 0). No allocation per frame: the tag is written into the frame's
 * buffer (macSeal) or compared there in constant time (macVerify, CRYPTO_memcmp), and the one-time
 * key, the Poly1305 state and the computed tag are wiped after use.
 *
 * JS API (relay/frame-mac.ts wraps it):
 *   macInfo() -> { available: boolean, reason: string, openssl: string }
 *   macKey(runKey: Uint8Array of 32) -> an external holding the key (throws on bad input or when
 *     unavailable: a programmer fault, checked once per key)
 *   macSeal(key, frame: Uint8Array, end) -> true when the tag was written at frame[end..end+16)
 *   macVerify(key, frame, end) -> whether frame[end..end+16) is the tag of frame[0..end)
 * Both return false on bad arguments (a key that is not one of ours, end out of range).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame-mac.h"

#define RUN_KEY_BYTES 32 /* src/backbone/key-ring.ts RUN_KEY_BYTES */
#define TAG_LENGTH 16    /* src/backbone/frame-format.ts FRAME_TAG_LENGTH */
#define HOP_OFFSET 3     /* src/backbone/frame-format.ts FrameOffset.HopLimit */
#define SEQ_OFFSET 6     /* FrameOffset.Seq: 6 bytes */
#define SENDER_OFFSET 12 /* FrameOffset.Sender: 6 bytes */
#define HEADER_LENGTH 24 /* FRAME_HEADER_LENGTH: the nonce's fields lie inside it */
#define POLY_STATE_MAX 512

typedef void (*chacha_fn)(unsigned char *out, const unsigned char *in, size_t len,
                          const unsigned int key[8], const unsigned int counter[4]);
typedef size_t (*poly_size_fn)(void);
typedef void (*poly_init_fn)(void *ctx, const unsigned char key[32]);
typedef void (*poly_update_fn)(void *ctx, const unsigned char *in, size_t len);
typedef void (*poly_final_fn)(void *ctx, unsigned char mac[16]);
typedef int (*memcmp_fn)(const void *, const void *, size_t);
typedef const char *(*version_fn)(int);

static struct {
  chacha_fn chacha;
  poly_init_fn init;
  poly_update_fn update;
  poly_final_fn final;
  memcmp_fn memcmp;
  const char *version;
  const char *reason; /* why unavailable; NULL when available */
} ossl;

static pthread_once_t resolved = PTHREAD_ONCE_INIT;

/* The key in an external, tagged so that no other external passes for one. */
static const napi_type_tag KEY_TAG = {0x6d8a1c2f3b4e5a61ULL, 0x9e7f0d1c2b3a4959ULL};

typedef struct {
  unsigned int words[8]; /* ChaCha20's key as little-endian 32-bit words */
} mac_key_t;

static void *find(const char *name) { return dlsym(RTLD_DEFAULT, name); }

static void key_words(mac_key_t *k, const uint8_t *key) {
  for (int i = 0; i < 8; i++)
    k->words[i] = (unsigned int)key[4 * i] | (unsigned int)key[4 * i + 1] << 8 |
                  (unsigned int)key[4 * i + 2] << 16 | (unsigned int)key[4 * i + 3] << 24;
}

static unsigned int le32(const uint8_t *b) {
  return (unsigned int)b[0] | (unsigned int)b[1] << 8 | (unsigned int)b[2] << 16 |
         (unsigned int)b[3] << 24;
}

/* The RFC 8439 tag of frame[0..end) (byte 3 as 0) as additional data, with no plaintext, into
 * out[16]; the nonce is the frame's sender field then its sequence number. end >= HEADER_LENGTH. */
static void tag_of(const mac_key_t *k, const uint8_t *frame, size_t end, uint8_t out[16]) {
  uint8_t nonce[12];
  memcpy(nonce, frame + SENDER_OFFSET, 6);
  memcpy(nonce + 6, frame + SEQ_OFFSET, 6);
  unsigned int counter[4] = {0, le32(nonce), le32(nonce + 4), le32(nonce + 8)};
  static const uint8_t zeros[64];
  uint8_t block[64];
  ossl.chacha(block, zeros, sizeof block, k->words, counter);
  _Alignas(64) uint8_t state[POLY_STATE_MAX];
  ossl.init(state, block);
  uint8_t head[HOP_OFFSET + 1];
  memcpy(head, frame, HOP_OFFSET);
  head[HOP_OFFSET] = 0;
  ossl.update(state, head, sizeof head);
  ossl.update(state, frame + HOP_OFFSET + 1, end - HOP_OFFSET - 1);
  uint8_t tail[16 + 16] = {0};
  size_t pad = (16 - end % 16) % 16;
  uint64_t n = end;
  for (int i = 0; i < 8; i++) tail[pad + i] = (uint8_t)(n >> (8 * i));
  ossl.update(state, tail, pad + 16); /* zeros to 16, le64(|F|), le64(0) */
  ossl.final(state, out);
  explicit_bzero(block, sizeof block);
  explicit_bzero(state, sizeof state);
}

/* A tag node:crypto's chacha20-poly1305 gave for the frame of 50 bytes i*3 (i = 0..49) under the
 * key 0x80..0x9f: nonce = bytes 12..17 then 6..11, the frame with byte 3 as 0 as additional data.
 * Checked once through the symbols found, so a library whose functions are not what their names
 * say (or whose Poly1305 state is larger than this file allows) is refused. */
static int known_answer(void) {
  static const uint8_t want[16] = {0xc4, 0x70, 0x95, 0xf1, 0x99, 0xfe, 0x9d, 0x66,
                                   0xca, 0x42, 0x96, 0xe5, 0x21, 0x1c, 0xd5, 0xfe};
  uint8_t key[32], frame[50], got[16];
  for (int i = 0; i < 32; i++) key[i] = (uint8_t)(0x80 + i);
  for (int i = 0; i < 50; i++) frame[i] = (uint8_t)(i * 3);
  mac_key_t k;
  key_words(&k, key);
  tag_of(&k, frame, sizeof frame, got);
  return memcmp(got, want, sizeof want) == 0 && ossl.memcmp(got, want, sizeof want) == 0;
}

static void resolve(void) {
  *(void **)&ossl.chacha = find("ChaCha20_ctr32");
  poly_size_fn size;
  *(void **)&size = find("Poly1305_ctx_size");
  *(void **)&ossl.init = find("Poly1305_Init");
  *(void **)&ossl.update = find("Poly1305_Update");
  *(void **)&ossl.final = find("Poly1305_Final");
  *(void **)&ossl.memcmp = find("CRYPTO_memcmp");
  version_fn version;
  *(void **)&version = find("OpenSSL_version");
  ossl.version = version ? version(0 /* OPENSSL_VERSION */) : "";
  if (!ossl.chacha || !size || !ossl.init || !ossl.update || !ossl.final || !ossl.memcmp)
    ossl.reason = "this node does not export OpenSSL's ChaCha20_ctr32, Poly1305_* and CRYPTO_memcmp";
  else if (size() > POLY_STATE_MAX)
    ossl.reason = "OpenSSL's Poly1305 state in this process is larger than the addon allows";
  else if (!known_answer())
    ossl.reason = "OpenSSL's ChaCha20-Poly1305 as found in this process failed the known-answer test";
}

int frame_mac_available(void) {
  pthread_once(&resolved, resolve);
  return ossl.reason == NULL;
}

/* The key and frame of a seal or verify call, checked: 0 on bad arguments. */
static int args(napi_env env, napi_callback_info info, mac_key_t **key, uint8_t **frame, size_t *end) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return 0;
  napi_valuetype t;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external) return 0;
  bool ours = false;
  if (napi_check_object_type_tag(env, argv[0], &KEY_TAG, &ours) != napi_ok || !ours) return 0;
  if (napi_get_value_external(env, argv[0], (void **)key) != napi_ok) return 0;
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &offset) != napi_ok ||
      type != napi_uint8_array)
    return 0;
  uint32_t e;
  if (napi_get_value_uint32(env, argv[2], &e) != napi_ok) return 0;
  if (e < HEADER_LENGTH || (size_t)e + TAG_LENGTH > length) return 0;
  *frame = data;
  *end = e;
  return 1;
}

static napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

static napi_value js_mac_seal(napi_env env, napi_callback_info info) {
  mac_key_t *key;
  uint8_t *frame;
  size_t end;
  if (!args(env, info, &key, &frame, &end)) return boolean(env, false);
  uint8_t md[TAG_LENGTH];
  tag_of(key, frame, end, md);
  memcpy(frame + end, md, TAG_LENGTH);
  explicit_bzero(md, sizeof md);
  return boolean(env, true);
}

static napi_value js_mac_verify(napi_env env, napi_callback_info info) {
  mac_key_t *key;
  uint8_t *frame;
  size_t end;
  if (!args(env, info, &key, &frame, &end)) return boolean(env, false);
  uint8_t md[TAG_LENGTH];
  tag_of(key, frame, end, md);
  int diff = ossl.memcmp(md, frame + end, TAG_LENGTH);
  explicit_bzero(md, sizeof md);
  return boolean(env, diff == 0);
}

static void free_key(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  explicit_bzero(data, sizeof(mac_key_t));
  free(data);
}

static napi_value js_mac_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!frame_mac_available()) {
    napi_throw_error(env, "ERR_FRAME_MAC", ossl.reason);
    return NULL;
  }
  napi_typedarray_type type;
  size_t length = 0, offset;
  void *data = NULL;
  napi_value ab;
  if (argc < 1 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, &ab, &offset) != napi_ok ||
      type != napi_uint8_array || length != RUN_KEY_BYTES) {
    napi_throw_type_error(env, "ERR_FRAME_MAC", "macKey(runKey): a Uint8Array of 32 bytes");
    return NULL;
  }
  mac_key_t *k = malloc(sizeof *k);
  if (!k) {
    napi_throw_error(env, "ERR_FRAME_MAC", "macKey: out of memory");
    return NULL;
  }
  key_words(k, data);
  napi_value ext;
  if (napi_create_external(env, k, free_key, NULL, &ext) != napi_ok) {
    free_key(env, k, NULL);
    return NULL;
  }
  napi_type_tag_object(env, ext, &KEY_TAG);
  return ext;
}

static napi_value js_mac_info(napi_env env, napi_callback_info info) {
  (void)info;
  int ok = frame_mac_available();
  napi_value o, reason, version;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, ok ? "" : ossl.reason, NAPI_AUTO_LENGTH, &reason);
  napi_create_string_utf8(env, ossl.version ? ossl.version : "", NAPI_AUTO_LENGTH, &version);
  napi_set_named_property(env, o, "available", boolean(env, ok));
  napi_set_named_property(env, o, "reason", reason);
  napi_set_named_property(env, o, "openssl", version);
  return o;
}

napi_status frame_mac_define(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"macInfo", NULL, js_mac_info, NULL, NULL, NULL, napi_default, NULL},
      {"macKey", NULL, js_mac_key, NULL, NULL, NULL, napi_default, NULL},
      {"macSeal", NULL, js_mac_seal, NULL, NULL, NULL, napi_default, NULL},
      {"macVerify", NULL, js_mac_verify, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
