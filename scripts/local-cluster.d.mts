/** A running local cluster (scripts/local-cluster.mjs). */
export interface LocalCluster {
  url: string
  port: number
  persistDir: string | undefined
  stop(): Promise<void>
}

export interface LocalClusterOptions {
  port?: number
  persistDir?: string
  vars?: Record<string, string>
  verbose?: boolean
}

export function startLocalCluster(options?: LocalClusterOptions): Promise<LocalCluster>
