// Readiness per service and overall (""), served as grpc.health.v1 on the gRPC port and as
// GET /healthz on the HTTP port. A service is SERVING only once its app says it is ready.
import { HealthImplementation, type ServingStatus } from "grpc-health-check";

export class HealthRegistry {
  private readonly statuses = new Map<string, ServingStatus>();
  readonly grpc = new HealthImplementation({ "": "NOT_SERVING" });

  register(serviceName: string): void {
    if (!this.statuses.has(serviceName)) this.set(serviceName, "NOT_SERVING");
  }

  setServing(serviceName: string, serving: boolean): void {
    this.set(serviceName, serving ? "SERVING" : "NOT_SERVING");
  }

  /** Marks every service as not serving (shutdown begins). */
  drain(): void {
    for (const name of this.statuses.keys()) this.set(name, "NOT_SERVING");
  }

  get overall(): ServingStatus {
    if (this.statuses.size === 0) return "NOT_SERVING";
    for (const status of this.statuses.values()) if (status !== "SERVING") return "NOT_SERVING";
    return "SERVING";
  }

  snapshot(): Record<string, ServingStatus> {
    return Object.fromEntries(this.statuses);
  }

  private set(serviceName: string, status: ServingStatus): void {
    this.statuses.set(serviceName, status);
    this.grpc.setStatus(serviceName, status);
    this.grpc.setStatus("", this.overall);
  }
}
