/**
 * Who a $SRV responder is: the service name all its instances share, the instance's own id, a
 * semantic version, a description and immutable metadata (NATS ADR-32 "Design"). Checked once at
 * start, so a bad name or version is refused with a clear error instead of producing responses
 * NATS tools reject.
 */
import { nuid } from "@nats-io/nats-core";
import { assertToken } from "../protocol/subjects.ts";

/** ADR-32: a service (and endpoint) name has only `A-Z, a-z, 0-9, dash, underscore`. */
export const SERVICE_NAME_PATTERN: RegExp = /^[A-Za-z0-9_-]+$/;

/**
 * ADR-32: the version is validated with the official regular expression of semver.org
 * (https://semver.org/#is-there-a-suggested-regular-expression-regex-to-check-a-semver-string),
 * as the `io.nats.micro.v1.*_response` JSON schemas do.
 */
export const SEMVER_PATTERN: RegExp =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export interface ServiceIdentity {
  /** The kind of service, shared by all its instances: the actor's name. */
  readonly name: string;
  /** This instance's unique id; one subject token. */
  readonly id: string;
  /** A semantic version, e.g. `1.4.0` or `2.0.0-rc.1`. */
  readonly version: string;
  readonly description: string;
  /** Free-form strings about the instance (see metadata-keys.ts); immutable once started. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** What callers give: name and version; the rest has defaults (id: a new NUID). */
export type ServiceIdentityInit = Pick<ServiceIdentity, "name" | "version"> &
  Partial<Omit<ServiceIdentity, "name" | "version">>;

export const defaultServiceIdentity: Pick<ServiceIdentity, "description" | "metadata"> = {
  description: "",
  metadata: {},
};

/** Throws unless `name` is a legal ADR-32 service name. */
export function assertServiceName(name: string): string {
  if (!SERVICE_NAME_PATTERN.test(name)) {
    throw new Error(
      `service name "${name}" is not valid: a NATS service name (ADR-32) may only contain ` +
        `A-Z, a-z, 0-9, "-" and "_", and must not be empty`,
    );
  }
  return name;
}

/** Throws unless `version` is a semantic version. */
export function assertServiceVersion(version: string, name: string): string {
  if (!SEMVER_PATTERN.test(version)) {
    throw new Error(
      `version "${version}" of service "${name}" is not a semantic version ` +
        `(MAJOR.MINOR.PATCH[-prerelease][+build], e.g. "1.0.0"; https://semver.org)`,
    );
  }
  return version;
}

/** Fills the defaults, validates every field and freezes a copy of the metadata. */
export function resolveServiceIdentity(init: ServiceIdentityInit): ServiceIdentity {
  const name = assertServiceName(init.name);
  const version = assertServiceVersion(init.version, name);
  const id = assertToken(init.id ?? nuid.next(), "service id");
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(init.metadata ?? defaultServiceIdentity.metadata)) {
    if (typeof value !== "string") {
      throw new Error(`metadata "${key}" of service "${name}" must be a string, not ${typeof value}`);
    }
    metadata[key] = value;
  }
  return Object.freeze({
    name,
    id,
    version,
    description: init.description ?? defaultServiceIdentity.description,
    metadata: Object.freeze(metadata),
  });
}
