import type { CodegenConfig } from "@graphql-codegen/cli";

// Typed documents from the server's own schema file (kept identical to the code by a test).
const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: ["src/graphql/*.graphql"],
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        enumsAsTypes: true,
        scalars: { DateTime: "string" },
        avoidOptionals: { field: true, inputValue: false },
        nonOptionalTypename: true,
        skipTypeNameForRoot: true,
        useTypeImports: true,
      },
    },
  },
  ignoreNoDocuments: false,
};

export default config;
