// What a fresh cluster already has: the four system namespaces, the
// `kubernetes` service, and a `default` ServiceAccount in each namespace.
import type { ObjectStore } from './objects.js';

const SYSTEM_NAMESPACES = ['default', 'kube-node-lease', 'kube-public', 'kube-system'];

export function seedCluster(store: ObjectStore): void {
  for (const name of SYSTEM_NAMESPACES) {
    store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    store.put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: name } });
  }
  store.put({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: {
      clusterIP: '10.96.0.1',
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
      type: 'ClusterIP',
      sessionAffinity: 'None',
    },
  });
}
