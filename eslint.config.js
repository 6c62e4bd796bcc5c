// `npm run lint`: the mechanical rules of docs/STYLE (../shared/STYLE.md in
// the design), checked so that nobody keeps them by hand. Formatting is
// prettier's (.prettierrc.json); this file holds what a formatter cannot
// see: file and function length, promises nobody awaits, one style of
// private members.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** A class member spelled with the `private` keyword, where `#private` is the house style. */
const KEYWORD_PRIVATE = [
  'PropertyDefinition[accessibility="private"]',
  'MethodDefinition[accessibility="private"][kind!="constructor"]',
  'TSParameterProperty[accessibility="private"]',
  'TSAbstractPropertyDefinition[accessibility="private"]',
].join(', ');

/** What Node gives a plain script without an import. */
const NODE_GLOBALS = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    'URL',
    'TextEncoder',
    'TextDecoder',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'performance',
  ].map((name) => [name, 'readonly']),
);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'docs/api/**', 'fanlog-data/**', 'scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      'max-lines': ['error', { max: 400 }],
      'max-lines-per-function': ['error', { max: 70 }],
      '@typescript-eslint/no-floating-promises': 'error',
      // A leading underscore names what a signature or a destructuring must hold but the body does not use.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      // Off: an async function that does not await still turns a throw into a
      // rejection, and the API promises that every failure of an async call is
      // a rejected promise, never a synchronous throw.
      '@typescript-eslint/require-await': 'off',
      // Seq lists (bigint[]) and booleans read well in messages as they print.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowArray: true, allowNullish: true }],
      'no-restricted-syntax': [
        'error',
        {
          selector: KEYWORD_PRIVATE,
          message: 'Use a #private member: one style of private members (the private keyword only for constructors, which # cannot name).',
        },
      ],
    },
  },
  {
    // A describe() callback holds its tests, and a test is one scenario read top to bottom: the
    // 70-line bound is for the code under test and the helpers, not for a suite's outline.
    files: ['test/**/*.test.ts'],
    rules: { 'max-lines-per-function': 'off' },
  },
  {
    // Tests read JSON back (a CLI's output, a fixture) and pass vitest's asymmetric matchers, which
    // are typed any: checking their shape is what the test's expect() is for.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
  {
    // Plain scripts (test children, fixture makers) are not type-checked; they run on Node.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: NODE_GLOBALS },
  },
);
