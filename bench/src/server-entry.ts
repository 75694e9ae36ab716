// What every benchmark server child does around its listener: tell the parent which port it
// bound (one JSON line on stdout), and stop on SIGTERM or SIGINT.

/** The line a server child prints once it listens. */
export interface ServerAnnouncement {
  readonly port: number;
}

export function announce(port: number): void {
  const line: ServerAnnouncement = { port };
  process.stdout.write(JSON.stringify(line) + "\n");
}

export function stopOnSignal(stop: () => Promise<void>): void {
  const handler = () => {
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", handler);
  process.once("SIGINT", handler);
}

/** The listen host, passed by the parent as the only argument. */
export function hostArgument(): string {
  const host = process.argv[2];
  if (host === undefined) throw new Error("usage: node <server>.ts <host>");
  return host;
}
