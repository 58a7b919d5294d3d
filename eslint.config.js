// Lints the add-on: recommended rules plus a ban on unsanitised DOM writes.
import js from "@eslint/js";
import nounsanitized from "eslint-plugin-no-unsanitized";
import globals from "globals";

export default [
  js.configs.recommended,
  nounsanitized.configs.recommended,
  {
    files: ["extension/**/*.js"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: { ...globals.browser, ...globals.webextensions },
    },
    rules: {
      "no-restricted-properties": ["error",
        { property: "innerHTML", message: "Build DOM with textContent (shared/dom.js h())." },
        { property: "outerHTML", message: "Build DOM with textContent (shared/dom.js h())." }],
      "no-restricted-syntax": ["error",
        { selector: "CallExpression[callee.property.name='insertAdjacentHTML']", message: "No HTML strings." },
        { selector: "CallExpression[callee.property.name='eval']", message: "No eval." }],
      "no-throw-literal": "off",
    },
  },
];
