/*
 * frame-mac: the backbone frame tag (docs/BACKBONE.md, "The tag") computed in C with the SHA-256
 * of the OpenSSL inside the running node binary, the same library node:crypto uses. Nothing here
 * hashes by hand: SHA256_Init/Update/Final and CRYPTO_memcmp are OpenSSL's, found at load time
 * with dlsym(RTLD_DEFAULT). A node that does not export them still loads this addon (native UDP
 * I/O keeps working): macInfo() then says why the MAC is unavailable and relay/frame-mac.ts falls
 * back to node:crypto.
 *
 * The tag of a frame F (every byte before the tag) under a 64-byte frame key K is the first 10
 * bytes of SHA-256(K || F) with F's hop-limit byte (offset 3) read as 0. K is exactly one SHA-256
 * block, so the state after it (the midstate) is computed once per key (macKey) and each frame
 * costs only its own bytes, hashed where it lies: its first 4 bytes with the hop byte as 0 from a
 * small copy, then the rest in place. No allocation per frame: the tag is written into the frame's
 * buffer (macSeal), or compared there in constant time (macVerify, CRYPTO_memcmp), and the digest
 * and the working state are wiped after use (the 22 bytes of the digest that never travel are
 * what keeps the truncated tag from being extended).
 *
 * JS API (relay/frame-mac.ts wraps it):
 *   macInfo() -> { available: boolean, reason: string, openssl: string }
 *   macKey(frameKey: Uint8Array of 64) -> an external holding the midstate (throws on bad input
 *     or when unavailable: a programmer fault, checked once per key)
 *   macSeal(key, frame: Uint8Array, end) -> true when the tag was written at frame[end..end+10)
 *   macVerify(key, frame, end) -> whether frame[end..end+10) is the tag of frame[0..end)
 * Both return false on bad arguments (a key that is not one of ours, end out of range).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <node_api.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame-mac.h"

#define FRAME_KEY_BYTES 64 /* src/backbone/key-ring.ts FRAME_KEY_BYTES */
#define TAG_LENGTH 10      /* src/backbone/frame-format.ts FRAME_TAG_LENGTH */
#define HOP_OFFSET 3       /* src/backbone/frame-format.ts FrameOffset.HopLimit */

typedef int (*sha256_init_fn)(SHA256_CTX *);
typedef int (*sha256_update_fn)(SHA256_CTX *, const void *, size_t);
typedef int (*sha256_final_fn)(unsigned char *, SHA256_CTX *);
typedef int (*memcmp_fn)(const void *, const void *, size_t);
typedef const char *(*version_fn)(int);

static struct {
  sha256_init_fn init;
  sha256_update_fn update;
  sha256_final_fn final;
  memcmp_fn memcmp;
  const char *version;
  const char *reason; /* why unavailable; NULL when available */
} ossl;

static pthread_once_t resolved = PTHREAD_ONCE_INIT;

/* The midstate in an external, tagged so that no other external passes for one. */
static const napi_type_tag KEY_TAG = {0x6d8a1c2f3b4e5a60ULL, 0x9e7f0d1c2b3a4958ULL};

typedef struct {
  SHA256_CTX mid;
} mac_key_t;

static void *find(const char *name) { return dlsym(RTLD_DEFAULT, name); }

/* FIPS 180-4 example: SHA-256("abc"). Run once through the symbols found, so a library whose
 * SHA256_CTX differs from the header's (or a symbol that is not what its name says) is refused. */
static int known_answer(void) {
  static const uint8_t want[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                   0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                   0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  SHA256_CTX c;
  uint8_t got[32];
  if (ossl.init(&c) != 1 || ossl.update(&c, "abc", 3) != 1 || ossl.final(got, &c) != 1) return 0;
  return memcmp(got, want, sizeof want) == 0 && ossl.memcmp(got, want, sizeof want) == 0;
}

static void resolve(void) {
  *(void **)&ossl.init = find("SHA256_Init");
  *(void **)&ossl.update = find("SHA256_Update");
  *(void **)&ossl.final = find("SHA256_Final");
  *(void **)&ossl.memcmp = find("CRYPTO_memcmp");
  version_fn version;
  *(void **)&version = find("OpenSSL_version");
  ossl.version = version ? version(0 /* OPENSSL_VERSION */) : "";
  if (!ossl.init || !ossl.update || !ossl.final || !ossl.memcmp)
    ossl.reason = "this node does not export OpenSSL's SHA256_Init/Update/Final and CRYPTO_memcmp";
  else if (!known_answer())
    ossl.reason = "OpenSSL's SHA-256 as found in this process failed the known-answer test";
}

int frame_mac_available(void) {
  pthread_once(&resolved, resolve);
  return ossl.reason == NULL;
}

/* SHA-256(K || frame[0..end) with byte 3 as 0) from K's midstate, into out[32]. end > HOP_OFFSET. */
static void digest(const mac_key_t *k, const uint8_t *frame, size_t end, uint8_t out[32]) {
  SHA256_CTX c = k->mid;
  uint8_t head[HOP_OFFSET + 1];
  memcpy(head, frame, HOP_OFFSET);
  head[HOP_OFFSET] = 0;
  ossl.update(&c, head, sizeof head);
  ossl.update(&c, frame + HOP_OFFSET + 1, end - HOP_OFFSET - 1);
  ossl.final(out, &c);
  explicit_bzero(&c, sizeof c);
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
  if (e <= HOP_OFFSET || (size_t)e + TAG_LENGTH > length) return 0;
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
  uint8_t md[32];
  digest(key, frame, end, md);
  memcpy(frame + end, md, TAG_LENGTH);
  explicit_bzero(md, sizeof md);
  return boolean(env, true);
}

static napi_value js_mac_verify(napi_env env, napi_callback_info info) {
  mac_key_t *key;
  uint8_t *frame;
  size_t end;
  if (!args(env, info, &key, &frame, &end)) return boolean(env, false);
  uint8_t md[32];
  digest(key, frame, end, md);
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
      type != napi_uint8_array || length != FRAME_KEY_BYTES) {
    napi_throw_type_error(env, "ERR_FRAME_MAC", "macKey(frameKey): a Uint8Array of 64 bytes");
    return NULL;
  }
  mac_key_t *k = malloc(sizeof *k);
  if (!k) {
    napi_throw_error(env, "ERR_FRAME_MAC", "macKey: out of memory");
    return NULL;
  }
  if (ossl.init(&k->mid) != 1 || ossl.update(&k->mid, data, FRAME_KEY_BYTES) != 1) {
    free_key(env, k, NULL);
    napi_throw_error(env, "ERR_FRAME_MAC", "macKey: SHA256_Init/Update failed");
    return NULL;
  }
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
