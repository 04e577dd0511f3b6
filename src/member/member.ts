// The Member Durable Object: one cluster member with its own SQLite database. A thin shell:
// it starts up (migrations, identity), and answers the front door and its peers through RPC.
import { DurableObject } from 'cloudflare:workers'
import { readClusterConfig, type ClusterConfig } from './config.ts'
import type { Env } from './env.ts'
import { clusterId, memberId } from './identity.ts'
import { applyMigrations } from './migrations.ts'
import { ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION } from '../version.ts'

/** What a member says about itself (the front door builds /health, /version, status from it). */
export interface MemberStatus {
  name: string
  memberId: string
  clusterId: string
  etcdServerVersion: string
  etcdClusterVersion: string
  migrationsApplied: number[]
  dbSizeBytes: number
}

/** A cluster member. Its Durable Object name is `<cluster>/<member>`. */
export class Member extends DurableObject<Env> {
  private readonly config: ClusterConfig
  private migrationsApplied: number[] = []

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.config = readClusterConfig(env as unknown as Record<string, unknown>)
    void ctx.blockConcurrencyWhile(async () => {
      this.migrationsApplied = applyMigrations(ctx.storage)
    })
  }

  /** This member's identity and health as seen from inside. `name` is the member's name. */
  async status(name: string): Promise<MemberStatus> {
    return {
      name,
      memberId: memberId(this.config.clusterName, name),
      clusterId: clusterId(this.config.clusterName),
      etcdServerVersion: ETCD_SERVER_VERSION,
      etcdClusterVersion: ETCD_CLUSTER_VERSION,
      migrationsApplied: this.migrationsApplied,
      dbSizeBytes: this.ctx.storage.sql.databaseSize,
    }
  }
}
