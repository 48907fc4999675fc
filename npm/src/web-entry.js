// What the browser entries (web.js: full build, client.js: slim build) share: explicit
// initialisation of their wasm-bindgen glue, and the API over it.

/**
 * @param {typeof import("./api.js").createApi} createApi
 * @param {(input?: object) => Promise<unknown>} initGlue the glue's default export
 * @param {any} glue the glue's named exports
 * @param {boolean} full whether the module is the full build
 */
export function webEntry(createApi, initGlue, glue, full) {
  let ready = false;
  const api = createApi({
    full,
    glue: () => {
      if (!ready) {
        throw new Error("@telemetry-gateway/core: call init() or initSync(bytes) before using the module");
      }
      return glue;
    },
    reset: () => glue.__wbg_reset_state(),
  });
  /** Loads the module asynchronously. Idempotent. */
  api.init = async function init(moduleOrPath) {
    await initGlue(moduleOrPath === undefined ? undefined : { module_or_path: moduleOrPath });
    ready = true;
  };
  /** Loads the module synchronously from its bytes (or a compiled WebAssembly.Module). */
  api.initSync = function initSync(module) {
    glue.initSync({ module });
    ready = true;
  };
  return api;
}
