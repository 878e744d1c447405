/**
 * Secret stores for webhook signing secrets. In AWS each secret is one Secrets Manager secret named under
 * WEBHOOK_SECRET_PREFIX, and its reference is the secret's ARN; the local service keeps each secret in a file
 * of mode 0600 under its data directory, and its reference is the file's name. The table holds only the
 * reference; no adapter logs a secret.
 */
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import type { SecretStore } from "../destinations/ports";

export class SecretsManagerStore implements SecretStore {
  constructor(
    private readonly client: SecretsManagerClient,
    /** Prefix of every secret name, e.g. "segmentation/webhooks/". */
    private readonly prefix: string,
  ) {}

  async create(name: string, value: string): Promise<string> {
    const out = await this.client.send(
      new CreateSecretCommand({
        Name: `${this.prefix}${name}`,
        SecretString: value,
        Description: "Webhook signing secret of a segmentation destination",
      }),
    );
    if (!out.ARN) throw new Error("Secrets Manager returned no ARN for a created secret");
    return out.ARN;
  }

  async get(ref: string): Promise<string> {
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: ref }));
    if (out.SecretString === undefined) throw new Error("The webhook secret has no string value");
    return out.SecretString;
  }

  async put(ref: string, value: string): Promise<void> {
    await this.client.send(new PutSecretValueCommand({ SecretId: ref, SecretString: value }));
  }

  async delete(ref: string): Promise<void> {
    try {
      await this.client.send(new DeleteSecretCommand({ SecretId: ref, ForceDeleteWithoutRecovery: true }));
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
  }
}

const FILE_REF = /^[A-Za-z0-9_.-]{1,200}$/;

/** The local service's secret store: one file per secret, readable by its owner only. */
export class FileSecretStore implements SecretStore {
  constructor(private readonly directory: string) {}

  private path(ref: string): string {
    if (!FILE_REF.test(ref) || ref.startsWith(".")) throw new Error("Not a local secret reference");
    return join(this.directory, ref);
  }

  async create(name: string, value: string): Promise<string> {
    const ref = name.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^\.+/, "_");
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    await writeFile(this.path(ref), value, { mode: 0o600, flag: "wx" });
    return ref;
  }

  async get(ref: string): Promise<string> {
    return readFile(this.path(ref), "utf8");
  }

  async put(ref: string, value: string): Promise<void> {
    const path = this.path(ref);
    await writeFile(path, value, { mode: 0o600 });
    await chmod(path, 0o600);
  }

  async delete(ref: string): Promise<void> {
    await rm(this.path(ref), { force: true });
  }
}
