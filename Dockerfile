# kubetape's container image. Build: docker build -t kubetape .
# Run: mount a config at /etc/kubetape/kubetape.yaml (listen 0.0.0.0:8443,
# adminListen 0.0.0.0:9443) and publish 8443. infra/ deploys it on Fargate.

# --- build: all dependencies, compile TypeScript to dist/ -------------------
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY infra/package.json infra/package.json
# --ignore-scripts: `prepare` compiles, and the sources are not copied yet.
RUN npm ci --ignore-scripts --workspaces=false
COPY tsconfig.json ./
COPY src src
COPY test test
COPY bench bench
RUN npx tsc -p tsconfig.json

# --- runtime: production dependencies and the compiled code only -----------
FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY infra/package.json infra/package.json
RUN npm ci --omit=dev --ignore-scripts --workspaces=false \
 && npm cache clean --force \
 && rm -rf infra
COPY --from=build /src/dist/src dist/src
COPY bin bin
COPY kubeconfig-templates kubeconfig-templates
# A fixed uid so the task definition (and Kubernetes securityContexts) can name it.
RUN groupadd --gid 10001 kubetape \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin kubetape \
 && mkdir -p /etc/kubetape/tls /var/lib/kubetape \
 && chown -R 10001:10001 /etc/kubetape /var/lib/kubetape
USER 10001:10001
EXPOSE 8443
# node:20-slim has no curl: ask the admin listener with node itself.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9443/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "--max-semi-space-size=2", "bin/kubetape.js", "serve", "--config", "/etc/kubetape/kubetape.yaml"]
