// Type declarations of @telemetry-gateway/core (every entry point: Node import/require,
// browsers, bundlers).
//
// int64 values: every int64 the module returns (user ids, `parameters.legacyMetadata` values,
// identifier fields) is a decimal **string**, as in proto3 JSON, so nothing loses precision.
// Inputs accept an int64 as a number, a decimal string or a BigInt. Any object argument may also
// be given as its JSON text (a string), which the core parses exactly.

/** An int64 as accepted on input. Returned int64 values are always decimal strings. */
export type Int64Input = number | string | bigint;

/** JSON text of a value, passed to the core as it is. */
export type JsonText = string;

/** A JSON value (a `google.protobuf.Struct` field value, GraphQL `JSONValue`). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

// ---------------------------------------------------------------------------------------------
// The JS SDK's client recording (GraphQL `TelemetryEventInput`).

export interface TelemetryEventSourceInput {
  client: string;
  clientVersion?: string | null;
}
export interface TelemetryEventMetadataInput {
  key: string;
  value: number;
}
export interface TelemetryEventBillingMetadataInput {
  product: string;
  category: string;
}
export interface TelemetryEventParametersInput {
  version: number;
  metadata?: TelemetryEventMetadataInput[] | null;
  privateMetadata?: unknown;
  billingMetadata?: TelemetryEventBillingMetadataInput | null;
  interactionID?: string | null;
}
export interface TelemetryEventMarketingTrackingInput {
  url?: string | null;
  firstSourceURL?: string | null;
  cohortID?: string | null;
  referrer?: string | null;
  lastSourceURL?: string | null;
  deviceSessionID?: string | null;
  sessionReferrer?: string | null;
  sessionFirstURL?: string | null;
}
export interface TelemetryEventInput {
  timestamp?: string | null;
  feature: string;
  action: string;
  source: TelemetryEventSourceInput;
  parameters: TelemetryEventParametersInput;
  marketingTracking?: TelemetryEventMarketingTrackingInput | null;
}

// ---------------------------------------------------------------------------------------------
// telemetrygateway.v1 messages in proto3 JSON (lowerCamelCase keys).

export interface EventUserInput {
  userId?: Int64Input;
  anonymousUserId?: string;
  userWorkspaceId?: string;
}
/** A `telemetrygateway.v1.Event` in proto3 JSON. Answers write int64 fields as strings. */
export interface Event {
  id?: string;
  timestamp?: string;
  feature?: string;
  action?: string;
  source?: {
    server?: { version?: string };
    client?: { name?: string; version?: string };
  };
  parameters?: {
    version?: number;
    /** int64 values: decimal strings in answers. */
    legacyMetadata?: { [key: string]: string };
    metadata?: { [key: string]: number };
    privateMetadata?: { [key: string]: JsonValue };
    billingMetadata?: { product?: string; category?: string };
  };
  /** `userId` is an int64: a decimal string in answers. */
  user?: { userId?: string; anonymousUserId?: string; userWorkspaceId?: string };
  featureFlags?: { flags?: { [name: string]: string } };
  marketingTracking?: { [key: string]: string };
  interaction?: { traceId?: string; interactionId?: string; geolocation?: { countryCode?: string } };
  [key: string]: unknown;
}
/** The input form of an event: like {@link Event}, with int64 fields as number, string or BigInt. */
export type EventInput = { [key: string]: unknown };
/** A `RecordEventsRequestMetadata` (`requestId`, `identifier`, …) in proto3 JSON. */
export type RequestMetadata = { requestId?: string; identifier?: { [kind: string]: unknown }; [key: string]: unknown };

// ---------------------------------------------------------------------------------------------
// Answers. Operations answer values; only a malformed request (wrong argument types) throws.

export type ErrorAnswer = { error: string };
export type ValidateAnswer = { ok: true } | ErrorAnswer;
export type EventAnswer = { event: Event } | ErrorAnswer;
export type TranslateAnswer =
  | {
      /** The exact Pub/Sub message body (the gateway's bytes, as a string). */
      payload: string;
      /** `payload` as UTF-8 bytes. */
      data: Uint8Array;
      attributes: { [name: string]: string };
    }
  | { dropped: "oversized" }
  | ErrorAnswer;
export type IngestResult =
  | { id: string; outcome: "publish"; payload: string; attributes: { [name: string]: string } }
  | { id: string; outcome: "reject"; retryable: false; error: string }
  | { id: string; outcome: "drop"; error: string };
export interface IngestAnswer {
  results: IngestResult[];
  succeededEvents: string[];
}

/** The instance's redaction policy. */
export interface RedactionPolicyInput {
  /** Sourcegraph.com: nothing is redacted. */
  dotcom?: boolean;
  /** Extra allowlist entries in the env syntax `feature::action::key1::key2,...`. */
  additionalAllowedEventTypes?: string;
}

/** Everything `record` must not take from the client. `id` and `now` are filled in if absent. */
export interface RecordContextInput {
  /** Event id; default: a fresh UUID v7 (platform crypto). */
  id?: string;
  /** RFC 3339 time of recording; default: now. */
  now?: string;
  serverVersion?: string;
  user?: EventUserInput;
  featureFlags?: { [name: string]: boolean | string };
  traceId?: string;
  interactionId?: string;
  countryCode?: string;
}

export type Op = "validate" | "redact" | "translate" | "ingest" | "record";

// ---------------------------------------------------------------------------------------------
// Loading (browsers and bundlers must load the module first; in Node these do nothing).

/** What `init` accepts: a URL of core_bg.wasm, a fetch Response, its bytes or a compiled module. */
export type InitInput = string | URL | Request | Response | BufferSource | WebAssembly.Module;
/** Loads the module asynchronously (default: core_bg.wasm next to the entry). Idempotent. */
export function init(moduleOrPath?: InitInput | Promise<InitInput>): Promise<void>;
/** Loads the module synchronously from its bytes or a compiled module. */
export function initSync(module?: BufferSource | WebAssembly.Module): void;

// ---------------------------------------------------------------------------------------------
// The core operations.

/** Runs one core operation on its conformance-shaped input (object or JSON text). */
export function runOp(op: Op, input: object | JsonText): unknown;
/** The gateway's per-event checks. */
export function validate(event: EventInput | JsonText): ValidateAnswer;
/** The instance's export redaction of an event. */
export function redact(event: EventInput | JsonText, policy?: RedactionPolicyInput | JsonText): EventAnswer;
/** The gateway's Pub/Sub message for an event (not validated, not migrated). */
export function translate(
  metadata: RequestMetadata | JsonText,
  event: EventInput | JsonText,
  options?: { maxMessageBytes?: number },
): TranslateAnswer;
/** One `EventsPayload` through the gateway pipeline, as if every publish succeeded. */
export function ingest(
  metadata: RequestMetadata | JsonText,
  events: EventInput[] | JsonText,
  options?: { rpc?: "RecordEvents" | "RecordEvent"; maxMessageBytes?: number },
): IngestAnswer | ErrorAnswer;
/** A client recording to a full `Event`, as a Sourcegraph instance builds it. */
export function record(event: TelemetryEventInput | JsonText, context?: RecordContextInput | JsonText): EventAnswer;
/** Whether `record` would accept a client recording (feature/action, metadata types, timestamp). */
export function checkEventInput(event: TelemetryEventInput | JsonText, context?: RecordContextInput): ValidateAnswer;
/** Client-side stripping: the recording as the policy would let it leave the instance (a copy). */
export function redactEventInput(
  event: TelemetryEventInput | JsonText,
  policy?: RedactionPolicyInput,
): { event: TelemetryEventInput } | ErrorAnswer;
/** A fresh UUID v7 from the platform clock and crypto. */
export function uuidV7(): string;

// ---------------------------------------------------------------------------------------------
// Protobuf wire encoding, for JS transports (gRPC message bodies, without gRPC framing).

export type RecordEventsRequestJson =
  | { metadata: RequestMetadata }
  | { events: { events: EventInput[] } };
export function encodeRecordEventsRequest(request: RecordEventsRequestJson | JsonText): Uint8Array;
export function decodeRecordEventsRequest(
  bytes: Uint8Array,
): { metadata: RequestMetadata } | { events: { events: Event[] } } | Record<string, never>;
export function encodeRecordEventsResponse(response: { succeededEvents?: string[] } | JsonText): Uint8Array;
export function decodeRecordEventsResponse(bytes: Uint8Array): { succeededEvents: string[] };
export function encodeRecordEventRequest(
  request: { metadata?: RequestMetadata; event?: EventInput } | JsonText,
): Uint8Array;
export function decodeRecordEventRequest(bytes: Uint8Array): { metadata?: RequestMetadata; event?: Event };
export function encodeEvent(event: EventInput | JsonText): Uint8Array;
export function decodeEvent(bytes: Uint8Array): Event;

// ---------------------------------------------------------------------------------------------
// JS SDK processors (`@sourcegraph/telemetry`'s `TelemetryProcessor` contract).

export interface TelemetryProcessor {
  processEvent(event: TelemetryEventInput): void;
}
/** Rejects (throws) an event the instance would refuse, before it is sent. */
export declare class ValidationProcessor implements TelemetryProcessor {
  constructor(options?: { context?: RecordContextInput });
  processEvent(event: TelemetryEventInput): void;
}
/** Strips, in place, what the policy would redact (`marketingTracking`, `privateMetadata`). */
export declare class RedactionProcessor implements TelemetryProcessor {
  /** Throws if the policy cannot be parsed. */
  constructor(policy?: RedactionPolicyInput);
  processEvent(event: TelemetryEventInput): void;
}
/** Thrown by the processors; `message` is the core's. */
export declare class TelemetryEventValidationError extends Error {
  readonly event: unknown;
}
/** Thrown when the module trapped (a core bug); the module has been re-instantiated. */
export declare class TelemetryCoreTrap extends Error {}

// ---------------------------------------------------------------------------------------------
// Conformance runners.

export interface CaseResult {
  name: string | null;
  status: "passed" | "failed" | "skipped";
  message?: string;
}
export declare const conformance: {
  /** Checks every case of one corpus file (its JSON text) inside WASM, by the core's rules. */
  checkFile(file: string, text: string, target: string, seenNames?: string[]): CaseResult[];
  /** Whether an answer satisfies an expectation, by the corpus rules. */
  answerMatches(expect: object | JsonText, actual: object | JsonText): boolean;
};

/** @internal Traps the module on purpose (tests of the trap recovery). */
export function __trapForTests(): void;
