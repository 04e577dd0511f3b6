/** The etcd server version whose v3 API edge-etcd serves, as `/version` reports it. */
export const ETCD_SERVER_VERSION = '3.4.23'
/** The cluster version, as etcd reports it (major.minor.0). */
export const ETCD_CLUSTER_VERSION = '3.4.0'
/** edge-etcd's own version. */
export const EDGE_ETCD_VERSION = '0.1.0'
