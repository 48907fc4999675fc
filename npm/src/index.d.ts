// Type declarations of @telemetry-gateway/core (every entry point: Node import/require,
// browsers, bundlers). The slim client entry (`@telemetry-gateway/core/client`, client.d.ts)
// declares a subset of these.
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

/** One recording of a batch: its event's id and protobuf wire bytes, or why it was refused. */
export type RecordBatchResult = { id: string; bytes: Uint8Array } | ErrorAnswer;
/**
 * The batch path, one call into the core for the whole batch: records, validates, redacts
 * (`policy`) and encodes every recording. `context` is one context for all or an array with one
 * per recording (`id`, `now` filled in when absent). Answers one result per recording, in order.
 */
export function recordBatch(
  inputs: TelemetryEventInput[],
  options?: { context?: RecordContextInput | RecordContextInput[]; policy?: RedactionPolicyInput | JsonText },
): RecordBatchResult[];
/**
 * `recordBatch` and `eventsRequests` in one call into the core (the exporter's usual path):
 * `results` as `recordBatch` answers them, and `requests` the `RecordEventsRequest`s carrying the
 * recorded events, cut under `limit` bytes (default 1 MiB) by the core's chunk plan, as
 * `eventsRequests` frames them. Each result's `bytes` is a view of its request's bytes.
 */
export function recordRequests(
  inputs: TelemetryEventInput[],
  options?: { context?: RecordContextInput | RecordContextInput[]; policy?: RedactionPolicyInput | JsonText; limit?: number },
): { results: RecordBatchResult[]; requests: Uint8Array[] };
/**
 * The `RecordEventsRequest`s (each an `EventsPayload`) carrying encoded events, cut into payloads
 * under `limit` bytes (default 1 MiB) by the core's chunk plan, without re-encoding them.
 */
export function eventsRequests(events: Uint8Array[], limit?: number): Uint8Array[];
/** For each encoded event: `null` if it decodes as an `Event`, else the decode error. */
export function checkEvents(events: Uint8Array[]): (string | null)[];

// ---------------------------------------------------------------------------------------------
// Protobuf wire encoding, for JS transports (gRPC message bodies, without gRPC framing).

/** Protobuf bytes a decoder takes: a `Uint8Array` (a `Buffer`), an `ArrayBuffer`, or another view of one. */
export type ProtobufBytes = Uint8Array | ArrayBuffer | ArrayBufferView;
export type RecordEventsRequestJson =
  | { metadata: RequestMetadata }
  | { events: { events: EventInput[] } };
export function encodeRecordEventsRequest(request: RecordEventsRequestJson | JsonText): Uint8Array;
/** The gateway's side of the wire: not in the client build (`@telemetry-gateway/core/client`). */
export function decodeRecordEventsRequest(
  bytes: ProtobufBytes,
): { metadata: RequestMetadata } | { events: { events: Event[] } } | Record<string, never>;
export function encodeRecordEventsResponse(response: { succeededEvents?: string[] } | JsonText): Uint8Array;
export function decodeRecordEventsResponse(bytes: ProtobufBytes): { succeededEvents: string[] };
export function encodeRecordEventRequest(
  request: { metadata?: RequestMetadata; event?: EventInput } | JsonText,
): Uint8Array;
/** The gateway's side of the wire: not in the client build (`@telemetry-gateway/core/client`). */
export function decodeRecordEventRequest(bytes: ProtobufBytes): { metadata?: RequestMetadata; event?: Event };
export function encodeEvent(event: EventInput | JsonText): Uint8Array;
export function decodeEvent(bytes: ProtobufBytes): Event;

// ---------------------------------------------------------------------------------------------
// JS SDK processors (`@sourcegraph/telemetry`'s `TelemetryProcessor` contract).

export interface TelemetryProcessor {
  processEvent(event: TelemetryEventInput): void;
}
/** Rejects (throws) an event the instance would refuse, before it is sent. */
export declare class ValidationProcessor implements TelemetryProcessor {
  /** Throws a `TypeError` for a context the core cannot use (as `GatewayExporter` does). */
  constructor(options?: { context?: RecordContextInput });
  /** The context its checks record with: `options.context` over a fixed id, time and server version. */
  readonly context: RecordContextInput;
  processEvent(event: TelemetryEventInput): void;
}
/** Strips, in place, what the policy would redact (`marketingTracking`, `privateMetadata`). */
export declare class RedactionProcessor implements TelemetryProcessor {
  /** Throws if the policy cannot be parsed. */
  constructor(policy?: RedactionPolicyInput);
  /** The policy given (default `{}`). */
  readonly policy: RedactionPolicyInput;
  processEvent(event: TelemetryEventInput): void;
}
/** Thrown by the processors; `message` is the core's. */
export declare class TelemetryEventValidationError extends Error {
  constructor(message: string, event?: unknown);
  readonly event: unknown;
}
/** Thrown when the module trapped (a core bug); the module has been re-instantiated. */
export declare class TelemetryCoreTrap extends Error {
  /** `cause`: what the module threw; the message names it. */
  constructor(cause: unknown);
}

// ---------------------------------------------------------------------------------------------
// Exporter rules (from the core) and the gateway exporter.

/** The core's chunk plan: half-open index ranges of events whose sizes stay under `limit` (default 1 MiB). */
export function planChunks(sizes: number[], limit?: number): [number, number][];
/** The core's retry delay (ms) for `attempt` (from 0): full jitter over `min(maxMs, baseMs × 2^attempt)`. */
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, sample?: number): number;
/** The ids of `sent` acknowledged in `succeeded` (in `sent` order, without duplicates), by the core's rule. */
export function acknowledged(sent: string[], succeeded: string[]): string[];
/** The positions in `sent` an encoded `RecordEventsResponse` acknowledges (the same rule, decoding included). */
export function acknowledgedIn(sent: string[], response: Uint8Array): Uint32Array;

/** Options a transport call gets from the exporter. */
export interface RecordEventsCallOptions {
  /** Called with each encoded `RecordEventsResponse` as it arrives. */
  onResponse(response: Uint8Array): void;
  /** Aborted on the call's deadline or when the exporter closes. */
  signal: AbortSignal;
  timeoutMs: number;
}
/** Carries one `RecordEvents` call: `requests` are encoded `RecordEventsRequest`s (metadata first). */
export interface RecordEventsTransport {
  /**
   * Resolves when the call ended with status OK; rejects otherwise (acks already delivered still
   * count). With `keepalive` (only if the transport's `keepalive` is true) the call must survive
   * the page going away (`fetch(…, { keepalive: true })`).
   */
  recordEvents(requests: Uint8Array[], options: RecordEventsCallOptions & { keepalive?: boolean }): Promise<void>;
  /** Releases resources. The exporter may call `recordEvents` again later (events exported after close). */
  close?(): void;
  /** Whether calls can be sent with `keepalive` (used on `pagehide` / `visibilitychange: hidden`). */
  readonly keepalive?: boolean;
}

/** One queued event as a store keeps it. */
export interface QueuedEvent {
  id: string;
  /** The event's protobuf wire bytes. */
  bytes: Uint8Array;
}
/**
 * Where an exporter's queue is persisted. Operations are called one at a time, in order.
 * `IndexedDbQueueStore` (browsers, the default there) and `FileQueueStore` (Node,
 * `@telemetry-gateway/core/exporter-node`) implement it.
 */
export interface QueueStore {
  /**
   * Opens the store; hands events left by earlier runs to `adopt` (now, or later as they become
   * free). `failed` hears of a failure after open() resolved (claiming such events later): the
   * exporter reports it as `store_failed`.
   */
  open(adopt: (events: QueuedEvent[]) => void, failed?: (error: unknown) => void): Promise<void>;
  /** Persists queued events; resolves once they are durable (as the store defines it). */
  add(events: QueuedEvent[]): Promise<void>;
  /** Forgets acknowledged (or dropped) events. */
  remove(ids: string[]): Promise<void>;
  /** Releases the store; events left stay for the next run. */
  close(): Promise<void>;
  readonly kind?: string;
}
/**
 * The browser queue store: IndexedDB database `telemetry-gateway-exporter:<name>`, Web Locks for
 * ownership. `add` and `remove` on a store not open (never opened, or closed) reject with
 * `IndexedDB queue telemetry-gateway-exporter:<name> is not open`.
 */
export declare class IndexedDbQueueStore implements QueueStore {
  constructor(options: { name?: string; newId: () => string });
  readonly name: string;
  readonly kind: "indexeddb";
  open(adopt: (events: QueuedEvent[]) => void, failed?: (error: unknown) => void): Promise<void>;
  add(events: QueuedEvent[]): Promise<void>;
  remove(ids: string[]): Promise<void>;
  close(): Promise<void>;
}

/** What happens to an event recorded while the queue is full. */
export type OverflowPolicy = "reject-new" | "drop-oldest";

export interface GatewayExporterOptions {
  transport: RecordEventsTransport;
  /** The `RecordEventsRequestMetadata` (an `identifier` is required); `requestId` is a fresh UUID per call when absent. */
  metadata: RequestMetadata;
  /** The instance's redaction policy, applied to every event before it is queued. */
  policy?: RedactionPolicyInput;
  /**
   * The recording context, or a function giving it per recording. `serverVersion` (the version
   * of the instance or service recording: the event's `source.server.version`) is required in a
   * context object; a function returning none is reported once (`missing_server_version`).
   */
  context: (RecordContextInput & { serverVersion: string }) | ((input: TelemetryEventInput) => RecordContextInput);
  /** Queue bound, in events. Default 10000. */
  maxQueueEvents?: number;
  /** Default `"reject-new"`: queued events leave only when acknowledged; refused ones are reported. */
  overflow?: OverflowPolicy;
  /** Events per RecordEvents call. Default 10000. */
  maxBatchEvents?: number;
  /** Payload size bound passed to the core's chunk plan. Default 1 MiB. */
  maxChunkBytes?: number;
  /** Deadline of one call. Default 30000. */
  requestTimeoutMs?: number;
  /** Back-off: full jitter over `min(maxMs, baseMs × 2^failures)`; default 500 ms, 60 s, unlimited attempts. */
  retry?: { baseMs?: number; maxMs?: number; maxAttempts?: number };
  /** Receives every problem (default: console.error); never called with anything but a TelemetryExportError. */
  onError?: (error: TelemetryExportError) => void;
  /**
   * Where the queue is kept. Default: IndexedDB where the runtime has it (browsers), resumed by
   * the next page load of the same origin; memory elsewhere. `false`: memory only. `true`:
   * IndexedDB or a TypeError. Or a store, e.g. Node's `FileQueueStore`.
   */
  persist?: boolean | QueueStore;
  /** The IndexedDB queue's name, to keep several exporters of one origin apart. Default `"default"`. */
  queueName?: string;
  /**
   * How long to wait for the store to open (IndexedDB can be blocked, or never answer). After it
   * the queue lives in memory (reported as `store_failed`). Default 10000.
   */
  storeOpenTimeoutMs?: number;
  /** Send what fits in one `keepalive` fetch on `pagehide` / `visibilitychange: hidden` (browsers). Default true. */
  flushOnHide?: boolean;
  /** Body limit of that keepalive call. Default and maximum 65536 (fetch's keepalive quota). */
  maxKeepaliveBytes?: number;
}

export interface GatewayExporterStats {
  queued: number;
  acknowledged: number;
  invalid: number;
  droppedOverflow: number;
  droppedRetries: number;
  requests: number;
  failedRequests: number;
  sentEvents: number;
  /** Events a store resumed (left by an earlier page load or process). */
  resumed: number;
  /** Keepalive calls made when the page was hidden or left, and the events they carried. */
  keepaliveRequests: number;
  keepaliveEvents: number;
  storeFailures: number;
  /** Events not queued because an event with their id (a caller-supplied `context.id`) was already queued (reported once as `duplicate_id`). */
  duplicateIds: number;
}

/** `@sourcegraph/telemetry`'s `TelemetryExporter`, exporting to a gateway with `RecordEvents`. */
export declare class GatewayExporter {
  constructor(options: GatewayExporterOptions);
  /**
   * Records, validates, redacts and encodes the batch (one core call) and queues it; resolves once
   * queued and, with a store, persisted. Refused recordings go to `onError`.
   */
  exportEvents(events: TelemetryEventInput[]): Promise<void>;
  /** Resolves when every queued event was acknowledged; rejects (`flush_timeout`) after `timeoutMs` (default 30 s). */
  flush(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Flushes, then stops timers, the transport and the store; rejects if events were left (a store
   * keeps them for the next run). Call `provider.unsubscribe()` first; events exported after
   * close() are still sent (reported once as `exported_after_close`).
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  /** `"memory"`, `"indexeddb"`, `"file"`, or a custom store's kind. */
  readonly persistence: string;
  /** Resolves once the queue store is open and the events it resumed are queued. */
  readonly ready: Promise<void>;
  /** Events waiting for an acknowledgement. */
  readonly pending: number;
  /** The queued events, oldest first, as they will be sent. */
  pendingEvents(): Event[];
  /** The ids of the queued events, oldest first. */
  pendingIds(): string[];
  readonly stats: GatewayExporterStats;
}

/** gRPC-Web over fetch (browsers): one call carries the metadata and every payload in one body. */
export declare class GrpcWebTransport implements RecordEventsTransport {
  /** `url`: the gateway's base URL, `http://…` or `https://…`. */
  constructor(options: { url: string; headers?: Record<string, string>; fetch?: typeof fetch });
  readonly url: string;
  /** Headers of every call, e.g. `{ authorization: "Bearer …" }` (set after the gRPC-Web ones, so they win). */
  readonly headers: Record<string, string>;
  readonly keepalive: true;
  recordEvents(requests: Uint8Array[], options: RecordEventsCallOptions & { keepalive?: boolean }): Promise<void>;
  close(): void;
}

export type TelemetryExportErrorCode =
  | "invalid_event"
  | "queue_overflow"
  | "export_failed"
  | "retries_exhausted"
  | "flush_timeout"
  | "closed"
  | "store_failed"
  | "exported_after_close"
  | "missing_server_version"
  | "duplicate_id"
  | "unsent_at_exit";
/** What the exporter reports through `onError`. */
export declare class TelemetryExportError extends Error {
  /** `details`: `cause` and the fields below, set on the error as given. */
  constructor(
    code: TelemetryExportErrorCode,
    message: string,
    details?: { cause?: unknown } & Partial<Omit<TelemetryExportError, keyof Error | "code">>,
  );
  readonly code: TelemetryExportErrorCode;
  /** The refused recording (`invalid_event`). */
  readonly event?: unknown;
  /** Events dropped (`queue_overflow`, `retries_exhausted`). */
  readonly dropped?: number;
  /** The dropped events, decoded (`retries_exhausted`). */
  readonly events?: Event[];
  /** The overflow policy that refused or dropped them (`queue_overflow`). */
  readonly policy?: OverflowPolicy;
  /** Events exported after close() (`exported_after_close`). */
  readonly count?: number;
  /** Events still queued (`flush_timeout`, `closed`, `unsent_at_exit`). */
  readonly pending?: number;
  /** Whether those events are in a persistent store (`unsent_at_exit`). */
  readonly persisted?: boolean;
  /** How many of them are not: no store, or their write failed or had not ended (`unsent_at_exit`). */
  readonly unpersisted?: number;
  /** The repeated event id (`duplicate_id`). */
  readonly id?: string;
  /** For `export_failed`. */
  readonly sent?: number;
  readonly acknowledged?: number;
  readonly unacknowledged?: number;
  /** Failed calls in a row before this one (from 0): the back-off attempt its retry waits for (`export_failed`, regular calls). */
  readonly attempt?: number;
}
/** A non-OK gRPC status (gRPC-Web transport). */
export declare class GrpcStatusError extends Error {
  /** The message is `gRPC status <code>: <details>`. */
  constructor(code: number, details?: string);
  readonly code: number;
  readonly details: string;
}

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
