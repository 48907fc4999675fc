"use strict";
// Node, CommonJS (`require`), the slim client build (see client.js). Compiled and instantiated
// synchronously on load; init() and initSync() exist for code shared with browsers and do
// nothing here.
const glue = require("./client_node.cjs");
const { createApi } = require("./api.cjs");

const api = createApi({ full: false, glue: () => glue, reset: () => glue.__wbg_reset_state() });
api.init = async function init() {};
api.initSync = function initSync() {};
module.exports = api;
