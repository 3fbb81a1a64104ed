# syntax=docker/dockerfile:1.7
#
# The push node image: `node server/dist/main.js`, role (node | balancer) chosen by
# EDITION_ROLE, every setting an EDITION_* variable (server/src/config.ts).
#
#   docker build -t edition/push-node:0.1.0 .
#
# Base: Node 20 on Debian 12 (glibc 2.36). The uWebSockets.js build we depend on
# (@trufflesuite/uws-js-unofficial) ships a native binary for Node 20's ABI that needs this
# glibc; builds for newer glibc fail to load, and the node refuses to start on the slow
# fallback. Pin the base by digest in CI (NODE_IMAGE=node:20-bookworm-slim@sha256:...).
#
# Runtime: non-root (uid/gid 1000, the image's `node` user, numeric so the kubelet can check
# runAsNonRoot), nothing written to the root filesystem (readOnlyRootFilesystem: true works),
# no npm in the start command (signals reach node directly; it drains on SIGTERM).
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: full install (TypeScript), compile server/ to server/dist ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Manifests first: the dependency layer is reused until they change. Every workspace's
# package.json is needed for `npm ci` to accept the lockfile.
COPY package.json package-lock.json tsconfig.base.json ./
COPY server/package.json server/
COPY operator/package.json operator/
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY server/tsconfig.json server/
COPY server/src server/src
RUN npm run build -w server

# ---- deps: production dependencies of the server workspace only ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
COPY server/package.json server/
COPY operator/package.json operator/
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --workspace server --no-audit --no-fund

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps --chown=0:0 /src/node_modules node_modules
COPY --from=deps --chown=0:0 /src/package.json package.json
COPY --from=deps --chown=0:0 /src/server/package.json server/package.json
COPY --from=build --chown=0:0 /src/server/dist server/dist
# Files owned by root and not writable by the process: it only reads them.
USER 1000:1000
# 8080 public (WebSocket + PUT /update/<token>, EDITION_PORT), 8081 internal router
# (EDITION_ROUTER_PORT, never exposed publicly), 9464 metrics + /health + /ready
# (EDITION_METRICS_PORT). The router and metrics listen on EDITION_INTERNAL_HOST, loopback
# by default: the operator sets the pod IP; elsewhere set it to the container's address.
EXPOSE 8080 8081 9464
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "server/dist/main.js"]
