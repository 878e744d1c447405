/** Segment profiles with lift and k-suppression (profile.ts), and their inputs from a computed result. */
export * from "./from-result";
export * from "./profile";
export * from "./reading";
export * from "./suppression";
