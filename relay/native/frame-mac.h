/* frame-mac.c's entry points for the addon (native-udp.c defines the module). */
#ifndef RELAY_FRAME_MAC_H
#define RELAY_FRAME_MAC_H
#include <node_api.h>

/* Adds macInfo, macKey, macSeal and macVerify to the addon's exports. */
napi_status frame_mac_define(napi_env env, napi_value exports);

/* Whether OpenSSL's ChaCha20 and Poly1305 were found in this process and passed the known-answer test. */
int frame_mac_available(void);
#endif
