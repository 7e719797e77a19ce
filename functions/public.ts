/**
 * What the CLI (cli/) may use of functions/: the one module it imports from here, so the surface the
 * CLI depends on is listed in one place and the lint (biome.jsonc) can refuse any other path into
 * functions/. Nothing in functions/ imports this file, so it adds nothing to any Lambda bundle.
 *
 * Add an export here when the CLI needs more; keep it to what the CLI shares with the functions by
 * design (error names and remediation, validation rules, name encodings, record shapes and reads).
 */
export { ValidationError, remediationFor } from '#shared/errors';
export { encodeRoleNameForExecution } from '#shared/identifiers';
export { parseCloudFrontPrivateKey } from '#shared/cloudfront-keys';
export { findBackendIgnoringCase } from '#shared/records/read';
export { getOrgRecord } from '#shared/records/read-sdk';
export type { AuditEvent, Backend, BackendConfig, DownloadConfig, OrgRecord, UploadConfig } from '#shared/records/model';
// Storage locations (docs/locations.md): status lists them, history reads the audit trail, sign passes them on.
export { orgPk } from '#shared/records/read';
export { locationFor, locationOfConfig, type LocationRecord } from '#shared/records/location-read';
export { listLocations } from '#shared/records/location-read-sdk';
export type { ApprovalRecord } from '#shared/approval';
export {
  hasControlCharacters,
  orgIdProblem,
  parseOnboardingRequest,
  partitionOfRegion,
  roleNameProblem,
  type OnboardingRequest,
  type StackRules,
} from '#shared/validation';
export type { SmokeCheck, SmokeReport } from '#shared/smoke';
export type { DecisionResult } from './approval/decide-approval';
export type { OffboardResult } from './offboard/offboard';
