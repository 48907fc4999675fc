// The CommonJS view of the same declarations (`require`).
import core = require("@telemetry-gateway/core");

export const answer: core.ValidateAnswer = core.validate({ id: "1" });
export const bytes: Uint8Array = core.encodeEvent({ id: "1" });
export const processor: core.TelemetryProcessor = new core.ValidationProcessor();
