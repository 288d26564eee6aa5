# tributary: build with `docker build -t tributary .` or through docker-compose.yml.
# Plain Dockerfile syntax only, so BuildKit and the classic builder (the default of engines before
# 23.0, or DOCKER_BUILDKIT=0) both build it. Hence no `# syntax=` line either: it would make BuildKit
# pull a frontend image before building, which fails offline and is not needed for these instructions.
# Two stages: `build` compiles TypeScript with the dev dependencies; the final stage carries only
# the compiled code and the production dependencies, and runs as the unprivileged `node` user.

# Pin the Node major (the app needs >= 20.11, see package.json "engines"); bookworm-slim is glibc,
# which PGlite's and pg's packages are tested on, and small.
FROM node:20-bookworm-slim AS build
WORKDIR /app

# Manifests first, so the slow `npm ci` layer is reused until the dependencies change.
COPY package.json package-lock.json ./
# No `RUN --mount=type=cache` (BuildKit only): npm's download cache stays in this stage's layer,
# which the final stage never copies, so it costs the image nothing; the layer is reused while the
# manifests are unchanged, and a lock file change downloads the packages again.
RUN npm ci --no-audit --no-fund

# Only what `npm run build` (tsconfig.build.json: src + migrations) reads; .dockerignore keeps the rest out.
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
# Compile to dist/ (rootDir ".", so the entry is dist/src/main.js and migrations are compiled in
# dist/migrations, imported by code), drop the dev dependencies (typescript, vitest, tsx…), then
# make the embedded database's template in node_modules/.cache: a container's first start on the
# embedded database copies it (a tenth of a second) instead of creating one (about 5 s).
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && node dist/src/core/db/embedded-process.js template


FROM node:20-bookworm-slim
WORKDIR /app

# production: libraries take their production paths. DATA_DIR: the embedded database (when
# DATABASE_URL is unset) and the on-disk spool live on the /data volume. HTTP_HOST: the health
# server must listen beyond loopback, or neither Docker's port publishing nor other containers reach it.
# EMBEDDED_PG_HOST: the same for the embedded database, so `docker run -p 127.0.0.1:54320:54320` lets
# psql on the host in. It takes connections without a password: publish its port on loopback only.
ENV NODE_ENV=production \
    DATA_DIR=/data \
    HTTP_HOST=0.0.0.0 \
    EMBEDDED_PG_HOST=0.0.0.0

# The writable data directory, owned by the user the daemon runs as. A named volume mounted here
# starts as a copy of it, ownership included, so `node` can write to it. No VOLUME instruction: it
# would give every container that mounts nothing on /data (the simulator, a `docker run`) an
# anonymous volume that outlives it.
RUN mkdir -p /data && chown node:node /data

# Copied as root-owned files: the daemon can read its code but not modify it.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# package.json carries "type": "module": without it Node would load dist/**/*.js as CommonJS.
COPY --from=build /app/package.json ./package.json

# The official image's unprivileged user (uid 1000); nothing here needs root.
USER node

# HTTP_PORT's default: /healthz, /readyz, /metrics and POST /webhooks/tradepost.
EXPOSE 8080
# EMBEDDED_PG_PORT's default: the embedded database, served when DATABASE_URL is unset.
EXPOSE 54320

# The slim image has no curl or wget, so Node itself probes /healthz (fetch is global in Node 20).
# start-period covers opening the database and running migrations before the server listens.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# The daemon's graceful stop (close sockets with a handshake, write every buffered event, exit 0
# within 10 s) runs on SIGTERM; docker-compose.yml gives it 20 s before SIGKILL.
STOPSIGNAL SIGTERM

# Exec form, no npm and no shell: node is PID 1 and receives SIGTERM itself (npm/sh would not
# forward it reliably). The app installs its own signal handlers, so PID 1's default of ignoring
# SIGTERM does not apply; its one child process (the embedded database's) is reaped by Node itself,
# so no init is needed to reap zombies.
CMD ["node", "dist/src/main.js"]
