// Exercises a little of the runtime: modules, crypto, async code.
const assert = require("assert");
const crypto = require("crypto");

(async () => {
  const digest = crypto.createHash("sha256").update("strata").digest("hex");
  assert.strictEqual(digest.length, 64);
  const value = await new Promise((resolve) => setTimeout(() => resolve(42), 10));
  assert.strictEqual(value, 42);
  console.log(`hello from node ${process.version}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
