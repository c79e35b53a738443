# syntax=docker/dockerfile:1
# One image for the relay, the Node edge and the key CLI; the command picks which:
#   docker run IMAGE relay --help          (dist/relay/main.js)
#   docker run IMAGE edge                  (dist/workers/node.js, configured by EDGE_* variables)
#   docker run IMAGE keys tenant list      (dist/scripts/keys.js)
# Build stage: all dependencies, TypeScript and the native UDP addon (`npm run build:native`,
# `npm run build`). Runtime stage: production
# dependencies and dist/ only, no compiler and no TypeScript loader, run as the unprivileged
# `node` user. Relays want the host's network (`--network host`): a TURN relay hands out
# thousands of UDP ports, which a port-mapping NAT in front of it would have to publish one by one.
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# A C compiler for the native UDP addon (what --udp-io auto, the default, runs on; the build stage
# only, skipped where one is).
RUN command -v cc >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*)
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY relay ./relay
COPY workers ./workers
COPY sdk ./sdk
COPY scripts/keys.ts scripts/build.ts scripts/build-dashboard.ts scripts/build-sdk.ts scripts/build-native.ts ./scripts/
COPY dashboard ./dashboard
# The addon first: npm run build copies it into dist/relay/native/build/.
RUN npm run build:native && npm run build

FROM node:${NODE_VERSION}-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/relay-backbone
USER node
# TURN (UDP and TCP), TURN over TLS, relay metrics/health (private), the relay's public /ping
# (--ping-port, when set), edge HTTP. The relayed UDP range (--min-port..--max-port) and the
# backbone UDP port come on top for relays.
EXPOSE 3478/udp 3478/tcp 5349/tcp 9464/tcp 9474/tcp 8787/tcp
ENTRYPOINT ["relay-backbone"]
CMD ["relay", "--help"]
