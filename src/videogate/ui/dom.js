// Preact + htm, vendored (see ui/vendor.mjs): JSX-like templates without a build step.
import htm from "./vendor/htm-3.1.1.mjs";
import { h, render } from "./vendor/preact-11.2.0.mjs";

export const html = htm.bind(h);
export { render };
export * from "./vendor/preact-hooks-11.2.0.mjs";
