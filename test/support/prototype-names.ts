/**
 * The own property names of Object.prototype, written out here rather than taken from the service, so that a
 * test of the reserved-key rule does not share the list it checks: as keys of a body's objects they are refused
 * (400 VALIDATION_FAILED, detail reserved_key) on every route; as data they are plain names.
 */
export const PROTOTYPE_NAMES = [
  "__proto__",
  "constructor",
  "toString",
  "toLocaleString",
  "valueOf",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "__defineGetter__",
  "__defineSetter__",
  "__lookupGetter__",
  "__lookupSetter__",
] as const;
