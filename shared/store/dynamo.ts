/**
 * The DynamoDB adapter of the dataset store: one table (key design in ./keys), four adapters split by what they
 * hold, each behind its part of the port (pipeline/ports.ts) and sharing the table's helpers (./base):
 *
 *   ./datasets   DynamoDatasets   datasets and definitions: META's settings, the registry, rule segments
 *   ./uploads    DynamoUploads    uploads and erasures: upload and erasure records, the erasure key, rewrites
 *   ./runs       DynamoRuns       runs and the lease: run records, lock/renew/release, pending version, close
 *   ./versions   DynamoVersions   versions and views: customer items, the commit, a customer's committed view
 *
 * DynamoDatasetStore composes the four for callers that take the whole store.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type {
  DatasetDefinitionStore,
  DatasetStore,
  RunLeaseStore,
  UploadErasureStore,
  VersionStore,
} from "../pipeline/ports";
import type { BatchOptions } from "./base";
import { DynamoDatasets } from "./datasets";
import { DynamoRuns } from "./runs";
import { DynamoUploads } from "./uploads";
import { DynamoVersions } from "./versions";

export { type BatchOptions, backoffDelay } from "./base";
export { customerItem } from "./versions";

export class DynamoDatasetStore implements DatasetStore {
  private readonly definitions: DynamoDatasets;
  private readonly uploads: DynamoUploads;
  private readonly runs: DynamoRuns;
  private readonly versions: DynamoVersions;

  constructor(doc: DynamoDBDocumentClient, table: string, batch: Partial<BatchOptions> = {}) {
    this.definitions = new DynamoDatasets(doc, table, batch);
    this.uploads = new DynamoUploads(doc, table, batch);
    this.runs = new DynamoRuns(doc, table, batch);
    this.versions = new DynamoVersions(doc, table, batch);
  }

  getDataset(
    ...args: Parameters<DatasetDefinitionStore["getDataset"]>
  ): ReturnType<DatasetDefinitionStore["getDataset"]> {
    return this.definitions.getDataset(...args);
  }

  ensureDataset(
    ...args: Parameters<DatasetDefinitionStore["ensureDataset"]>
  ): ReturnType<DatasetDefinitionStore["ensureDataset"]> {
    return this.definitions.ensureDataset(...args);
  }

  createDataset(
    ...args: Parameters<DatasetDefinitionStore["createDataset"]>
  ): ReturnType<DatasetDefinitionStore["createDataset"]> {
    return this.definitions.createDataset(...args);
  }

  listTenantDatasets(
    ...args: Parameters<DatasetDefinitionStore["listTenantDatasets"]>
  ): ReturnType<DatasetDefinitionStore["listTenantDatasets"]> {
    return this.definitions.listTenantDatasets(...args);
  }

  putSettings(
    ...args: Parameters<DatasetDefinitionStore["putSettings"]>
  ): ReturnType<DatasetDefinitionStore["putSettings"]> {
    return this.definitions.putSettings(...args);
  }

  putDefinition(
    ...args: Parameters<DatasetDefinitionStore["putDefinition"]>
  ): ReturnType<DatasetDefinitionStore["putDefinition"]> {
    return this.definitions.putDefinition(...args);
  }

  getDefinition(
    ...args: Parameters<DatasetDefinitionStore["getDefinition"]>
  ): ReturnType<DatasetDefinitionStore["getDefinition"]> {
    return this.definitions.getDefinition(...args);
  }

  listDefinitions(
    ...args: Parameters<DatasetDefinitionStore["listDefinitions"]>
  ): ReturnType<DatasetDefinitionStore["listDefinitions"]> {
    return this.definitions.listDefinitions(...args);
  }

  deleteDefinition(
    ...args: Parameters<DatasetDefinitionStore["deleteDefinition"]>
  ): ReturnType<DatasetDefinitionStore["deleteDefinition"]> {
    return this.definitions.deleteDefinition(...args);
  }

  listDatasets(
    ...args: Parameters<DatasetDefinitionStore["listDatasets"]>
  ): ReturnType<DatasetDefinitionStore["listDatasets"]> {
    return this.definitions.listDatasets(...args);
  }

  putUpload(
    ...args: Parameters<UploadErasureStore["putUpload"]>
  ): ReturnType<UploadErasureStore["putUpload"]> {
    return this.uploads.putUpload(...args);
  }

  getUpload(
    ...args: Parameters<UploadErasureStore["getUpload"]>
  ): ReturnType<UploadErasureStore["getUpload"]> {
    return this.uploads.getUpload(...args);
  }

  listUploads(
    ...args: Parameters<UploadErasureStore["listUploads"]>
  ): ReturnType<UploadErasureStore["listUploads"]> {
    return this.uploads.listUploads(...args);
  }

  ensureErasureSalt(
    ...args: Parameters<UploadErasureStore["ensureErasureSalt"]>
  ): ReturnType<UploadErasureStore["ensureErasureSalt"]> {
    return this.uploads.ensureErasureSalt(...args);
  }

  putErasure(
    ...args: Parameters<UploadErasureStore["putErasure"]>
  ): ReturnType<UploadErasureStore["putErasure"]> {
    return this.uploads.putErasure(...args);
  }

  getErasure(
    ...args: Parameters<UploadErasureStore["getErasure"]>
  ): ReturnType<UploadErasureStore["getErasure"]> {
    return this.uploads.getErasure(...args);
  }

  listErasureHashes(
    ...args: Parameters<UploadErasureStore["listErasureHashes"]>
  ): ReturnType<UploadErasureStore["listErasureHashes"]> {
    return this.uploads.listErasureHashes(...args);
  }

  addErasureCounts(
    ...args: Parameters<UploadErasureStore["addErasureCounts"]>
  ): ReturnType<UploadErasureStore["addErasureCounts"]> {
    return this.uploads.addErasureCounts(...args);
  }

  recordUploadRewrite(
    ...args: Parameters<UploadErasureStore["recordUploadRewrite"]>
  ): ReturnType<UploadErasureStore["recordUploadRewrite"]> {
    return this.uploads.recordUploadRewrite(...args);
  }

  completeErasure(
    ...args: Parameters<UploadErasureStore["completeErasure"]>
  ): ReturnType<UploadErasureStore["completeErasure"]> {
    return this.uploads.completeErasure(...args);
  }

  createRun(...args: Parameters<RunLeaseStore["createRun"]>): ReturnType<RunLeaseStore["createRun"]> {
    return this.runs.createRun(...args);
  }

  putRun(...args: Parameters<RunLeaseStore["putRun"]>): ReturnType<RunLeaseStore["putRun"]> {
    return this.runs.putRun(...args);
  }

  getRun(...args: Parameters<RunLeaseStore["getRun"]>): ReturnType<RunLeaseStore["getRun"]> {
    return this.runs.getRun(...args);
  }

  listRuns(...args: Parameters<RunLeaseStore["listRuns"]>): ReturnType<RunLeaseStore["listRuns"]> {
    return this.runs.listRuns(...args);
  }

  acquireLock(...args: Parameters<RunLeaseStore["acquireLock"]>): ReturnType<RunLeaseStore["acquireLock"]> {
    return this.runs.acquireLock(...args);
  }

  closeRun(...args: Parameters<RunLeaseStore["closeRun"]>): ReturnType<RunLeaseStore["closeRun"]> {
    return this.runs.closeRun(...args);
  }

  markDestinationsServed(
    ...args: Parameters<RunLeaseStore["markDestinationsServed"]>
  ): ReturnType<RunLeaseStore["markDestinationsServed"]> {
    return this.runs.markDestinationsServed(...args);
  }

  listRunsSince(
    ...args: Parameters<RunLeaseStore["listRunsSince"]>
  ): ReturnType<RunLeaseStore["listRunsSince"]> {
    return this.runs.listRunsSince(...args);
  }

  renewLock(...args: Parameters<RunLeaseStore["renewLock"]>): ReturnType<RunLeaseStore["renewLock"]> {
    return this.runs.renewLock(...args);
  }

  releaseLock(...args: Parameters<RunLeaseStore["releaseLock"]>): ReturnType<RunLeaseStore["releaseLock"]> {
    return this.runs.releaseLock(...args);
  }

  markPending(...args: Parameters<RunLeaseStore["markPending"]>): ReturnType<RunLeaseStore["markPending"]> {
    return this.runs.markPending(...args);
  }

  deleteCustomerItems(
    ...args: Parameters<VersionStore["deleteCustomerItems"]>
  ): ReturnType<VersionStore["deleteCustomerItems"]> {
    return this.versions.deleteCustomerItems(...args);
  }

  writeCustomers(
    ...args: Parameters<VersionStore["writeCustomers"]>
  ): ReturnType<VersionStore["writeCustomers"]> {
    return this.versions.writeCustomers(...args);
  }

  commit(...args: Parameters<VersionStore["commit"]>): ReturnType<VersionStore["commit"]> {
    return this.versions.commit(...args);
  }

  getCustomer(...args: Parameters<VersionStore["getCustomer"]>): ReturnType<VersionStore["getCustomer"]> {
    return this.versions.getCustomer(...args);
  }
}
