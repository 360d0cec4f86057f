// Lint: typescript-eslint's recommended rules; layering is checked by scripts/check-layers.mjs.
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", "native/**", "coverage/**"] },
  ...tseslint.configs.recommended,
  // The runtime CLI's launcher is CommonJS on purpose (bin/gantry-runtime.cjs explains why).
  { files: ["**/*.cjs"], rules: { "@typescript-eslint/no-require-imports": "off" } },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
);
